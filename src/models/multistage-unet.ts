import { ModuleList } from '../nn/containers.js';
import type { InitSource } from '../nn/init.js';
import { tidy } from '../tensor/engine.js';
import { fromLayout, toLayout } from '../tensor/ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { PAPER_CIFAR10_BOUNDARIES, StagePartition } from '../stages/stage-partition.js';
import { type RouteRecord, routeByStage } from './stage-routing.js';
import { UNetDecoder } from './unet-decoder.js';
import { type UNetOptions, positiveInteger, resolveUNetOptions } from './unet-options.js';
import { type UNetInputs, UNetTrunk } from './unet-trunk.js';

export interface MultistageUNetOptions extends UNetOptions {
  /** Base width of the shared encoder (default 128). */
  enModelChannels?: number;
  /** Base width of each stage's decoder, stage 0 (lowest noise) first (default [192, 128, 16]). */
  deModelChannels?: readonly number[];
  /** The stages in sigma (default: the paper's CIFAR-10 boundaries 2.5103 and 7.6577). */
  partition?: StagePartition;
}

/**
 * The paper's multi-decoder U-Net: SongUNet's mapping network and encoder shared by every noise level,
 * and one decoder per stage (`decs.<stage>`, each with its own bottleneck blocks and base width). Unlike
 * the official code, which picks one decoder from the first sample, each sample goes to its own stage's
 * decoder: the encoder runs once on the whole batch, each decoder on the samples of its stage (sliced from
 * a stage-sorted batch, else gathered), and the outputs are put back into batch order. A batch within one
 * stage runs its decoder directly.
 */
export class MultistageUNet extends UNetTrunk {
  readonly decs: ModuleList<UNetDecoder>;
  readonly partition: StagePartition;
  /** Base width of each stage's decoder. */
  readonly deModelChannels: readonly number[];
  /**
   * The decoder each stage's samples run through: its own by default. training.sharedDecoderImages points
   * the stages whose decoder has stage 0's width at decoder 0 for the first images (src/train/shared-decoder.ts).
   */
  readonly decoderOf: number[];
  lastRoute: RouteRecord | null = null;

  constructor(options: MultistageUNetOptions, source: InitSource) {
    const { enModelChannels = 128, deModelChannels = [192, 128, 16], partition = new StagePartition([...PAPER_CIFAR10_BOUNDARIES.sigma]), ...rest } = options;
    const o = resolveUNetOptions(rest);
    super(o, enModelChannels, source);
    if (deModelChannels.length !== partition.numStages) {
      throw new Error(`MultistageUNet: ${deModelChannels.length} decoder widths for ${partition.numStages} stages (boundaries ${JSON.stringify(partition.boundaries)})`);
    }
    deModelChannels.forEach((c, k) => positiveInteger(`deModelChannels[${k}]`, c));
    this.partition = partition;
    this.deModelChannels = [...deModelChannels];
    this.decoderOf = deModelChannels.map((_, k) => k);
    this.decs = this.registerModule('decs', new ModuleList(deModelChannels.map((c) => new UNetDecoder(o, c, this.embChannels, this.enc, source))));
  }

  /**
   * `inputs.sigma` (one per sample, or one for all) routes each sample to its stage's decoder. The
   * embedding, the encoder's outputs and their per-stage gathers are freed as it returns, except what the
   * tape saved. x and the result are NCHW in either layout; routing slices the batch axis, which both share.
   */
  forward(x: Tensor, noiseLabels: Tensor, inputs: UNetInputs = {}): Tensor {
    return tidy(() => {
      const emb = this.embed(noiseLabels, x.shape[0], inputs);
      const { x: h, skips } = this.enc.forward(toLayout(x, this.channelsLast), emb, inputs.generator);
      const { output, route } = routeByStage(
        this.partition,
        inputs.sigma,
        x.shape[0],
        (decoder, take) => this.decs.at(decoder).forward(take(h), skips.map(take), take(emb), inputs.generator),
        this.decoderOf,
      );
      this.lastRoute = route;
      return fromLayout(output, this.channelsLast);
    });
  }
}
