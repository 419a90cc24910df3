/**
 * Similarity of every pair of noise levels on a time grid, the input of the general K-stage clustering:
 * S[a][b] = mean over (x0, eps) pairs of D(f_a, f_b), where f_g is the optimal denoiser's output at grid
 * level g for the noisy point s_g x0 + std_g eps (one forward path per pair).
 *
 * Two outputs f are compared, from the same posterior means:
 * - x0: the posterior means E[x0 | x_g] themselves, as the official grid code (interval_split.py) compares;
 * - epsilon: the noise predictions eps*_g = eps + (x0 - E[x0 | x_g]) / sigma_g, the paper's definition.
 * They differ in kind: in x0 space the two ends of the axis (the training vector, the data mean) disagree;
 * in epsilon space both ends predict nearly eps itself and agree, and only the middle stands apart.
 */
import { agreement, checkEta } from './agreement.js';
import { type NoiseLevel, sigmaOf } from './noise-level.js';
import { type NoisingPairs, writeNoisyPoint } from './noising-pairs.js';
import type { DenoiseProgress, OptimalDenoiser } from './optimal-denoiser.js';

export interface GridSimilarity {
  /** The grid's times. */
  t: number[];
  /** S in x0 space, t.length x t.length, symmetric with unit diagonal. */
  x0: number[][];
  /** S in epsilon space, same shape. */
  epsilon: number[][];
}

export function gridSimilarity(denoiser: OptimalDenoiser, pairs: NoisingPairs, grid: readonly NoiseLevel[], eta: number, onProgress?: DenoiseProgress): GridSimilarity {
  checkEta(eta);
  const { count, dim, clean, noise } = pairs;
  const g = grid.length;
  if (dim !== denoiser.dim) throw new Error(`grid similarity: samples of dimension ${dim} for a denoiser of dimension ${denoiser.dim}`);
  // Query (p, a) = pair p at grid level a, row p * g + a.
  const noisy = new Float32Array(count * g * dim);
  const levels: NoiseLevel[] = [];
  for (let p = 0; p < count; p++) {
    grid.forEach((level, a) => writeNoisyPoint(pairs, p, level, noisy, (p * g + a) * dim));
    levels.push(...grid);
  }
  const x0 = denoiser.posteriorMean(noisy, levels, onProgress);

  const sumX0 = Array.from({ length: g }, () => new Float64Array(g));
  const sumEps = Array.from({ length: g }, () => new Float64Array(g));
  const epsStar = new Float64Array(g * dim);
  for (let p = 0; p < count; p++) {
    const base = p * g * dim;
    grid.forEach((level, a) => {
      const sigma = sigmaOf(level);
      for (let d = 0; d < dim; d++) epsStar[a * dim + d] = noise[p * dim + d] + (clean[p * dim + d] - x0[base + a * dim + d]) / sigma;
    });
    for (let a = 0; a < g; a++) {
      for (let b = a + 1; b < g; b++) {
        sumX0[a][b] += agreement(x0, base + a * dim, x0, base + b * dim, dim, eta);
        sumEps[a][b] += agreement(epsStar, a * dim, epsStar, b * dim, dim, eta);
      }
    }
  }
  const symmetric = (sums: Float64Array[]): number[][] =>
    sums.map((_, a) => Array.from({ length: g }, (_, b) => (a === b ? 1 : sums[Math.min(a, b)][Math.max(a, b)] / count)));
  return { t: grid.map((l) => l.t), x0: symmetric(sumX0), epsilon: symmetric(sumEps) };
}
