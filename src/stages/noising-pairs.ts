/**
 * The random pairs (x0, eps) that similarity of noise levels is averaged over: x0 a training vector, eps
 * standard normal noise. Noisy points at several levels built from one pair lie on one forward path, which
 * is what lets two levels be compared (the paper's D(eps*_ta, eps*_tb) for the same x0 and eps).
 */
import type { Generator } from '../tensor/random.js';
import type { NoiseLevel } from './noise-level.js';
import type { VectorDataset } from './vector-dataset.js';
import { checkDataset } from './vector-dataset.js';

export interface NoisingPairs {
  readonly count: number;
  readonly dim: number;
  /** Pair p's training vector: clean[p * dim .. (p + 1) * dim). */
  readonly clean: Float32Array;
  /** Pair p's noise, same layout. */
  readonly noise: Float32Array;
}

/** `count` pairs: x0 uniform over the dataset (with replacement), eps ~ N(0, I), from `generator`. */
export function drawNoisingPairs(dataset: VectorDataset, count: number, generator: Generator): NoisingPairs {
  checkDataset(dataset);
  if (!Number.isInteger(count) || count < 1) throw new Error(`need a positive number of (x0, eps) samples, got ${count}`);
  const { dim } = dataset;
  const clean = new Float32Array(count * dim);
  const picks = generator.uniformHost(count);
  for (let p = 0; p < count; p++) {
    // uniformHost is in (0, 1) but rounds through float32; the min guards an index one past the end.
    const i = Math.min(Math.floor(picks[p] * dataset.count), dataset.count - 1);
    clean.set(dataset.rows(i, i + 1), p * dim);
  }
  const noise = Float32Array.from(generator.normalHost(count * dim));
  return { count, dim, clean, noise };
}

/** The noisy point scale * x0 + std * eps of pair p, written at out[offset ..]. */
export function writeNoisyPoint(pairs: NoisingPairs, p: number, level: Pick<NoiseLevel, 'scale' | 'std'>, out: Float32Array, offset: number): void {
  const { dim, clean, noise } = pairs;
  for (let d = 0, o = p * dim; d < dim; d++) out[offset + d] = level.scale * clean[o + d] + level.std * noise[o + d];
}
