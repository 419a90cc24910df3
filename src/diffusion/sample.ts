/**
 * The library's sampling call: noise from a Generator seeded by `seed`, one sampler run, images as a tensor,
 * and how many network evaluations it took (per stage when a StagePartition is given).
 */
import * as T from '../tensor/index.js';
import type { Tensor } from '../tensor/index.js';
import type { StagePartition } from '../models/stage-partition.js';
import type { Denoiser } from './denoiser.js';
import { Evaluator } from './samplers/evaluator.js';
import { type SamplerName, type SamplerSpec, defaultSteps, runSampler, samplerSpec } from './samplers/index.js';

export interface SampleOptions {
  /** The network as D(x; sigma): an EDMPrecond, or formulation.denoiser(net) for another formulation. */
  model: Denoiser;
  /** Shape of one image, [C, H, W]. */
  shape: readonly number[];
  batch: number;
  seed: number;
  /** Default 'heun' (EDM's deterministic sampler). */
  sampler?: SamplerName | SamplerSpec;
  /** Default: the sampler's own (heun 18, dpm-solver 20, dpm-solver++ 20, ddim 50). */
  steps?: number;
  /** The model's stages, for counting evaluations per stage (default: one stage). */
  partition?: StagePartition;
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
  if (!Number.isInteger(options.batch) || options.batch < 1) throw new Error(`batch must be a positive integer, got ${options.batch}`);
  if (options.shape.length !== 3 || options.shape.some((d) => !Number.isInteger(d) || d < 1)) throw new Error(`shape must be [C, H, W] of positive integers, got [${options.shape.join(', ')}]`);
  const generator = new T.Generator(options.seed);
  const ev = new Evaluator(options.model, options.partition);
  const images = T.noGrad(() =>
    T.tidy(() => {
      const latents = generator.normal([options.batch, ...options.shape]);
      return runSampler(spec, steps, ev, latents, generator);
    }),
  );
  return { images, evaluations: ev.evaluations, evaluationsPerStage: [...ev.evaluationsPerStage] };
}
