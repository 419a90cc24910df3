/**
 * The paper's Algorithm 1: two boundaries t1 < t2 that cut the time axis into three stages.
 *
 * For K samples (x0_k, eps_k, t_k), the optimal denoiser's noise prediction at t_k,
 * eps*(x) = (x - s E[x0 | x]) / std, is compared with the two trivial predictors:
 * - eps itself, which the optimal denoiser equals near t = 0 (it has memorised the training set):
 *   S0_k = D(eps*_tk, eps_k);
 * - the prediction of a posterior collapsed to the data mean m, which it equals near t = 1:
 *   S1_k = D(eps*_tk, (x - s m) / std), at the same x (the official code's optimal_solution_1).
 * Then t1 is the largest tau whose samples t_k <= tau still agree with eps by alpha on average, and t2 the
 * smallest tau whose samples t_k >= tau agree with the mean's prediction by alpha on average. Between them
 * the denoiser is neither trivial map: the middle stage.
 *
 * eps* is formed as eps + (x0 - E[x0|x]) / sigma (sigma = std / s), algebraically (x - s E[x0|x]) / std, so
 * that the float32 rounding of the noisy query x is not divided by a vanishing std near t = 0.
 */
import { agreement, checkEta } from './agreement.js';
import { type NoiseLevel, sigmaOf } from './noise-level.js';
import { type NoisingPairs, writeNoisyPoint } from './noising-pairs.js';
import type { DenoiseProgress, OptimalDenoiser } from './optimal-denoiser.js';

/** One sample of Algorithm 1: its time and its two similarities. */
export interface Algorithm1Sample {
  t: number;
  s0: number;
  s1: number;
}

/** Algorithm 1's samples sorted by time, with the running means its thresholds read. */
export interface Algorithm1Curves {
  t: number[];
  /** S0_k = D(eps*_tk, eps_k). */
  s0: number[];
  /** S1_k = D(eps*_tk, eps of the mean). */
  s1: number[];
  /** Mean of s0 over samples with t <= t_k. */
  s0Below: number[];
  /** Mean of s1 over samples with t >= t_k. */
  s1Above: number[];
}

export interface Algorithm1Boundaries {
  /** null when not even the first sample reaches alpha. */
  t1: number | null;
  /** null when not even the last sample reaches alpha. */
  t2: number | null;
}

/** S0 and S1 of pair p at levels[p], for every pair, as curves sorted by time. */
export function algorithm1Curves(denoiser: OptimalDenoiser, pairs: NoisingPairs, levels: readonly NoiseLevel[], eta: number, onProgress?: DenoiseProgress): Algorithm1Curves {
  checkEta(eta);
  const { count, dim, clean } = pairs;
  if (levels.length !== count) throw new Error(`Algorithm 1: ${levels.length} noise levels for ${count} samples`);
  if (dim !== denoiser.dim) throw new Error(`Algorithm 1: samples of dimension ${dim} for a denoiser of dimension ${denoiser.dim}`);
  const noisy = new Float32Array(count * dim);
  levels.forEach((level, p) => writeNoisyPoint(pairs, p, level, noisy, p * dim));
  const x0 = denoiser.posteriorMean(noisy, levels, onProgress);

  const epsStar = new Float64Array(dim);
  const epsOfMean = new Float64Array(dim);
  const samples = levels.map((level, p): Algorithm1Sample => {
    const sigma = sigmaOf(level);
    const o = p * dim;
    for (let d = 0; d < dim; d++) {
      epsStar[d] = pairs.noise[o + d] + (clean[o + d] - x0[o + d]) / sigma;
      epsOfMean[d] = pairs.noise[o + d] + (clean[o + d] - denoiser.mean[d]) / sigma;
    }
    return { t: level.t, s0: agreement(epsStar, 0, pairs.noise, o, dim, eta), s1: agreement(epsStar, 0, epsOfMean, 0, dim, eta) };
  });
  return curvesFromSamples(samples);
}

/** The curves of samples in any order (also how a caller resamples them, e.g. to bootstrap t1 and t2). */
export function curvesFromSamples(samples: readonly Algorithm1Sample[]): Algorithm1Curves {
  const sorted = [...samples].sort((a, b) => a.t - b.t);
  const t = sorted.map((s) => s.t);
  const s0 = sorted.map((s) => s.s0);
  const s1 = sorted.map((s) => s.s1);
  return { t, s0, s1, s0Below: runningMeans(s0), s1Above: runningMeans([...s1].reverse()).reverse() };
}

/** t1 and t2 of Algorithm 1 at agreement level alpha in (0, 1]. */
export function algorithm1Boundaries(curves: Algorithm1Curves, alpha: number): Algorithm1Boundaries {
  checkAlpha(alpha);
  const { t, s0Below, s1Above } = curves;
  let i1 = -1;
  s0Below.forEach((m, k) => {
    if (m >= alpha) i1 = k;
  });
  const i2 = s1Above.findIndex((m) => m >= alpha);
  return { t1: i1 < 0 ? null : t[i1], t2: i2 < 0 ? null : t[i2] };
}

export function checkAlpha(alpha: number): void {
  if (!(alpha > 0 && alpha <= 1)) throw new Error(`Algorithm 1's alpha is an agreement level in (0, 1], got ${alpha}`);
}

function runningMeans(values: readonly number[]): number[] {
  let sum = 0;
  return values.map((v, i) => (sum += v) / (i + 1));
}
