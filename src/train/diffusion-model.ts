/**
 * A trainable diffusion model: the network, its formulation (EDM or VP) and its stage partition, as one
 * unit that the trainer optimises, checkpoints save and samplers draw from. Built from the `model` and
 * `formulation` sections of a training config.
 */
import { type Generator, type Tensor, zeros } from '../tensor/index.js';
import type { Module } from '../nn/module.js';
import { EDMPrecond } from '../models/edm-precond.js';
import { noiseLevelValues } from '../models/noise-levels.js';
import { unetFromConfig, type NoiseLabelNetwork } from '../models/factory.js';
import { StagePartition } from '../stages/stage-partition.js';
import { EDMFormulation } from '../diffusion/formulations/edm.js';
import { VPFormulation } from '../diffusion/formulations/vp.js';
import { LinearVPSchedule } from '../diffusion/schedules/linear-vp.js';
import { DiscreteVPSchedule } from '../diffusion/schedules/discrete-vp.js';
import { partitionFromSteps, partitionFromTimes } from '../diffusion/stage-conversions.js';
import type { Denoiser, NoiseConditionedNetwork } from '../diffusion/denoiser.js';
import type { NoiseDistribution } from '../diffusion/noise-distribution.js';
import type { VPSchedule } from '../diffusion/schedules/vp-schedule.js';
import type { TrainConfig } from './config.js';

export interface ModelSpec {
  model: TrainConfig['model'];
  formulation: TrainConfig['formulation'];
  /** [C, H, W] of the training images. */
  imageShape: readonly number[];
  /** The partition a checkpoint saved; takes precedence over the config's boundaries. */
  partition?: StagePartition;
}

export class DiffusionModel {
  private readonly edm: EDMFormulation | null;
  private readonly vp: VPFormulation | null;

  constructor(
    /** The module whose parameters are trained (EDMPrecond for EDM, the bare U-Net for VP). */
    readonly net: Module,
    /** The U-Net inside `net` (net itself for VP). */
    readonly unet: NoiseLabelNetwork,
    readonly spec: ModelSpec,
    readonly partition: StagePartition,
  ) {
    const f = spec.formulation;
    this.edm = f.kind === 'edm' ? new EDMFormulation({ sigmaData: f.sigmaData, pMean: f.pMean, pStd: f.pStd }) : null;
    this.vp = f.kind === 'vp' ? new VPFormulation(vpSchedule(spec.formulation)) : null;
  }

  get imageShape(): readonly number[] {
    return this.spec.imageShape;
  }

  /** Number of classes of a class-conditional network (model.network.label_dim); 0 = unconditional. */
  get labelDim(): number {
    return this.unet.labelDim;
  }

  /** The training distribution of noise levels (for stage sampling). */
  noiseDistribution(): NoiseDistribution {
    return (this.edm ?? this.vp!).trainingDistribution();
  }

  /** The VP schedule the model was trained on (null for EDM): the time grid of the VP samplers. */
  get vpSchedule(): VPSchedule | null {
    return this.vp?.schedule ?? null;
  }

  /**
   * D(x; sigma, class labels) for the samplers; `generator` drives dropout when the network is in training
   * mode. Class labels are one-hot [B, labelDim]; none means unconditional (all-zero labels).
   */
  denoiser(generator?: Generator): Denoiser {
    if (this.edm) {
      const precond = this.net as EDMPrecond;
      return (x, sigma, classLabels) => precond.forward(x, sigma, { generator, classLabels });
    }
    return (x, sigma, classLabels) => this.vp!.denoiser(this.epsilonNetwork(generator, classLabels))(x, sigma);
  }

  /** Number of augmentation labels the network takes (model.network.augment_dim); 0 = none. */
  get augmentDim(): number {
    return Number(this.spec.model.network.augment_dim ?? 0);
  }

  /**
   * Per-sample training loss [B] of clean images x0 at noise levels sigma with standard normal noise;
   * `augmentLabels` [B, augmentDim] describe how x0 was augmented (src/data/augment.ts).
   */
  loss(x0: Tensor, sigma: Float64Array, noise: Tensor, generator: Generator, classLabels?: Tensor, augmentLabels?: Tensor): Tensor {
    if (this.edm) {
      const precond = this.net as EDMPrecond;
      return this.edm.loss((x, s) => precond.forward(x, s, { generator, classLabels, augmentLabels }), x0, sigma, noise);
    }
    return this.vp!.loss(this.epsilonNetwork(generator, classLabels, augmentLabels), x0, sigma, noise);
  }

  /** The VP network sees its schedule's label (999 t); a multistage one also routes by each sample's sigma. */
  private epsilonNetwork(generator?: Generator, classLabels?: Tensor | null, augmentLabels?: Tensor): NoiseConditionedNetwork {
    const dim = this.unet.labelDim;
    return (x, labels, sigma) =>
      this.unet.forward(x, labels, { sigma: noiseLevelValues(sigma), generator, classLabels: dim === 0 ? null : (classLabels ?? zeros([1, dim], 'float32', x.backend)), augmentLabels });
  }
}

function vpSchedule(f: TrainConfig['formulation']): LinearVPSchedule {
  return new LinearVPSchedule({ beta0: f.betaMin, beta1: f.betaMax, trainingEps: f.tMin });
}

/** The stage partition the config asks for, in sigma. */
export function partitionFromConfig(model: TrainConfig['model'], formulation: TrainConfig['formulation'], partitionFile?: unknown): StagePartition {
  if (partitionFile !== undefined) return StagePartition.fromJSON(partitionFile);
  const b = model.stageBoundaries;
  if (!b) {
    // a unified network runs every noise level; stages, if given, only shape its stage sampling
    if (model.kind === 'unified') return StagePartition.single();
    throw new Error(`a ${model.kind} model needs model.stageBoundaries or model.stagesFrom`);
  }
  switch (model.stageUnits) {
    case 'sigma':
      return new StagePartition(b);
    case 'vp-t':
      return partitionFromTimes(vpSchedule(formulation), b);
    case 'step':
      return partitionFromSteps(DiscreteVPSchedule.linear(), b);
  }
}

const MODEL_TYPES = { unified: 'SongUNet', multistage: 'MultistageUNet', separate: 'SeparateUNets' } as const;

export function buildDiffusionModel(spec: ModelSpec, partition: StagePartition, source: Generator | 'empty'): DiffusionModel {
  const [channels, height, width] = spec.imageShape;
  if (height !== width) throw new Error(`the U-Nets need square images, got ${height}x${width}`);
  const network = { img_resolution: height, img_channels: channels, ...spec.model.network, model_type: MODEL_TYPES[spec.model.kind] };
  if (network.img_resolution !== height || network.img_channels !== channels) {
    throw new Error(`model.network is for ${network.img_channels}x${network.img_resolution}x${network.img_resolution} images but the data is ${channels}x${height}x${width}`);
  }
  const unet = unetFromConfig({ network, stage_sigma_boundaries: [...partition.boundaries] }, source);
  const net =
    spec.formulation.kind === 'edm'
      ? new EDMPrecond(unet, { sigmaData: spec.formulation.sigmaData })
      : unet;
  return new DiffusionModel(net, unet, spec, partition);
}
