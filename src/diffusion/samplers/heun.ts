/**
 * EDM's sampler (Karras et al. 2022, Algorithm 2): the probability-flow ODE dx/dsigma = (x - D(x; sigma)) / sigma
 * stepped over the rho-spaced noise levels with Heun's method (Euler with a trapezoidal correction, except
 * on the last step to sigma = 0), optionally "churned": before each step within [S_min, S_max] the noise is
 * raised from sigma to sigma (1 + gamma), gamma = min(S_churn / N, sqrt(2) - 1), by adding fresh noise scaled by
 * S_noise. `solver: 'euler'` drops the correction (EDM's ablation sampler). Deterministic Heun with N steps
 * costs 2N - 1 evaluations (35 for the default 18).
 */
import type { Tensor } from '../../tensor/index.js';
import type { NoiseSource } from '../noise-source.js';
import type { Evaluator } from './evaluator.js';
import { edmSigmaSteps } from './time-steps.js';
import { advance, combine } from './update.js';

export interface EDMSamplerOptions {
  solver?: 'heun' | 'euler';
  sigmaMin?: number;
  sigmaMax?: number;
  rho?: number;
  churn?: number;
  sMin?: number;
  sMax?: number;
  sNoise?: number;
}

/** The rest of EDM's stochastic setting (its ImageNet-64 values): churn between sigma 0.05 and 50, S_noise 1.003. */
export const EDM_CHURN_RANGE = { sMin: 0.05, sMax: 50, sNoise: 1.003 } as const;

export function edmSample(ev: Evaluator, latents: Tensor, steps: number, options: EDMSamplerOptions, generator: NoiseSource): Tensor {
  const { solver = 'heun', sigmaMin = 0.002, sigmaMax = 80, rho = 7, churn = 0, sMin = 0, sMax = Infinity, sNoise = 1 } = options;
  if (solver !== 'heun' && solver !== 'euler') throw new Error(`EDM sampler solver must be 'heun' or 'euler', got '${solver}'`);
  if (!(churn >= 0) || !(sNoise >= 0)) throw new Error(`EDM sampler needs S_churn >= 0 and S_noise >= 0, got ${churn} and ${sNoise}`);
  const sigmas = edmSigmaSteps(steps, sigmaMin, sigmaMax, rho);
  let x = combine([sigmas[0], latents]);
  for (let i = 0; i < steps; i++) {
    const sCur = sigmas[i];
    const sNext = sigmas[i + 1];
    const gamma = churn > 0 && sMin <= sCur && sCur <= sMax ? Math.min(churn / steps, Math.SQRT2 - 1) : 0;
    const sHat = sCur * (1 + gamma);
    x = advance(x, () => {
      const xHat = gamma > 0 ? combine([1, x], [Math.sqrt(sHat * sHat - sCur * sCur) * sNoise, generator.normal(x.shape, x.backend)]) : x;
      const d = ev.epsilon(xHat, sHat);
      const euler = combine([1, xHat], [sNext - sHat, d]);
      if (solver === 'euler' || sNext === 0) return euler;
      return combine([1, xHat], [0.5 * (sNext - sHat), d], [0.5 * (sNext - sHat), ev.epsilon(euler, sNext)]);
    });
  }
  return x;
}
