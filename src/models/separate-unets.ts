/**
 * The paper's "separate" arm: one independent U-Net per stage (no shared encoder), each with its own
 * width, routed per sample like the multistage network. Names: `nets.<stage>.<SongUNet names>`.
 */
import { ModuleList } from '../nn/containers.js';
import type { InitSource } from '../nn/init.js';
import { Module } from '../nn/module.js';
import type { Tensor } from '../tensor/tensor.js';
import { SongUNet } from './song-unet.js';
import { StagePartition } from '../stages/stage-partition.js';
import { type RouteRecord, routeByStage } from './stage-routing.js';
import { type UNetOptions, positiveInteger } from './unet-options.js';
import type { UNetInputs } from './unet-trunk.js';

export interface SeparateUNetsOptions extends UNetOptions {
  /** Base width of each stage's U-Net, stage 0 (lowest noise) first. */
  modelChannels: readonly number[];
  partition: StagePartition;
}

export class SeparateUNets extends Module {
  readonly nets: ModuleList<SongUNet>;
  readonly partition: StagePartition;
  readonly labelDim: number;
  lastRoute: RouteRecord | null = null;

  constructor(options: SeparateUNetsOptions, source: InitSource) {
    super();
    const { modelChannels, partition, ...rest } = options;
    if (modelChannels.length !== partition.numStages) {
      throw new Error(`SeparateUNets: ${modelChannels.length} widths for ${partition.numStages} stages (boundaries ${JSON.stringify(partition.boundaries)})`);
    }
    modelChannels.forEach((c, k) => positiveInteger(`modelChannels[${k}]`, c));
    this.partition = partition;
    this.nets = this.registerModule('nets', new ModuleList(modelChannels.map((c) => new SongUNet({ ...rest, modelChannels: c }, source))));
    this.labelDim = this.nets.at(0).labelDim;
  }

  forward(x: Tensor, noiseLabels: Tensor, inputs: UNetInputs = {}): Tensor {
    const { output, route } = routeByStage(this.partition, inputs.sigma, x.shape[0], (stage, take, sigma) =>
      this.nets.at(stage).forward(take(x), take(noiseLabels), {
        ...inputs,
        classLabels: inputs.classLabels ? take(inputs.classLabels) : inputs.classLabels,
        augmentLabels: inputs.augmentLabels ? take(inputs.augmentLabels) : inputs.augmentLabels,
        sigma,
      }),
    );
    this.lastRoute = route;
    return output;
  }
}
