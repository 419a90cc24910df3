/**
 * The library's sampling call: noise from a Generator seeded by `seed` (or one generator per image with
 * `seeds`), one sampler run, images as a tensor, and how many network evaluations it took (per stage when a
 * StagePartition is given).
 */
import * as T from '../tensor/index.js';
import type { Tensor } from '../tensor/index.js';
import type { StagePartition } from '../stages/stage-partition.js';
import type { Denoiser } from './denoiser.js';
import { Evaluator } from './samplers/evaluator.js';
import { guidedDenoiser, oneHot } from './guidance.js';
import { type NoiseSource, PerImageGenerators } from './noise-source.js';
import { type SamplerName, type SamplerSpec, defaultSteps, runSampler, samplerSpec } from './samplers/index.js';

export interface SampleOptions {
  /** The network as D(x; sigma): an EDMPrecond, or formulation.denoiser(net) for another formulation. */
  model: Denoiser;
  /** Shape of one image, [C, H, W]. */
  shape: readonly number[];
  /** Images to draw (with `seeds`: their count, or omitted). */
  batch?: number;
  /** One generator for the whole batch (default 0). */
  seed?: number;
  /**
   * One seed per image, as EDM's generate.py: image k's noise (initial and stochastic) comes from its own
   * generator, so it does not depend on the batch; overrides `seed`.
   */
  seeds?: readonly number[];
  /** Default 'heun' (EDM's deterministic sampler). */
  sampler?: SamplerName | SamplerSpec;
  /** Default: the sampler's own (heun 18, dpm-solver 20, dpm-solver++ 20, ddim 50). */
  steps?: number;
  /** The model's stages, for counting evaluations per stage (default: one stage). */
  partition?: StagePartition;
  /** A class-conditional model: the class of each image (batch entries) or one class for all. */
  classes?: ArrayLike<number>;
  /** The model's number of classes (model.network.label_dim); required with `classes`. */
  numClasses?: number;
  /** Classifier-free guidance weight w: D_uncond + w (D_cond - D_uncond); default 1 (plain conditional). */
  guidance?: number;
}

export interface SampleResult {
  /** [batch, ...shape]: the sampler's final state (data in the model's scale, unclipped). */
  images: Tensor;
  evaluations: number;
  evaluationsPerStage: number[];
}

export function sample(options: SampleOptions): SampleResult {
  const spec = samplerSpec(options.sampler ?? 'heun');
  const steps = options.steps ?? defaultSteps(spec);
  const batch = options.batch ?? options.seeds?.length;
  if (!Number.isInteger(batch) || batch! < 1) throw new Error(`batch must be a positive integer, got ${batch}`);
  if (options.seeds && options.seeds.length !== batch) throw new Error(`${options.seeds.length} seeds for a batch of ${batch}`);
  if (options.shape.length !== 3 || options.shape.some((d) => !Number.isInteger(d) || d < 1)) throw new Error(`shape must be [C, H, W] of positive integers, got [${options.shape.join(', ')}]`);
  const generator: NoiseSource = options.seeds ? new PerImageGenerators(options.seeds) : new T.Generator(options.seed ?? 0);
  let ev!: Evaluator;
  const images = T.noGrad(() =>
    T.tidy(() => {
      // Inside the scope, so that the one-hot labels are freed with the sampler's intermediates.
      ev = new Evaluator(conditioned(options, batch!), options.partition);
      const latents = generator.normal([batch!, ...options.shape]);
      return runSampler(spec, steps, ev, latents, generator);
    }),
  );
  return { images, evaluations: ev.evaluations, evaluationsPerStage: [...ev.evaluationsPerStage] };
}

function conditioned(options: SampleOptions, batch: number): Denoiser {
  const { classes, numClasses, guidance } = options;
  if (classes === undefined) {
    if (guidance !== undefined) throw new Error('guidance needs classes (the class of each image) to guide towards');
    return options.model;
  }
  if (numClasses === undefined) throw new Error('classes need numClasses, the number of classes of the model (model.network.label_dim)');
  if (classes.length !== 1 && classes.length !== batch) throw new Error(`classes has ${classes.length} entries for a batch of ${batch} (give one per image, or one for all)`);
  const perImage = Array.from({ length: batch }, (_, i) => classes[classes.length === 1 ? 0 : i]);
  const labels = oneHot(perImage, numClasses);
  return guidedDenoiser(options.model, labels, guidance ?? 1);
}
