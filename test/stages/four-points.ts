/**
 * A dataset whose optimal denoiser is known in closed form: the four points m + (+-c) + (+-d) with c and d
 * on disjoint coordinates (c on the first half, d on the second). The Gaussian likelihood factorises over
 * the two signs, so
 *   E[x0 | x] = m + c tanh(s (x - s m).c / std^2) + d tanh(s (x - s m).d / std^2).
 * Two clusters (+c and -c) of two points each (+-d): as noise grows the denoiser first forgets d (returns
 * its cluster's centre m +- c), then c (returns the mean m); |c| >> |d| puts the two switches far apart.
 */
import { type NoiseLevel, denseDataset, type VectorDataset } from '../../src/stages/index.js';

export interface FourPoints {
  dataset: VectorDataset;
  dim: number;
  centre: number;
  c: number;
  d: number;
  /** The exact posterior mean of one query, in float64. */
  posteriorMean(x: ArrayLike<number>, offset: number, level: Pick<NoiseLevel, 'scale' | 'std'>): Float64Array;
}

export function fourPoints(half = 8, centre = 0.5, c = 0.3, d = 0.02): FourPoints {
  const dim = 2 * half;
  const data = new Float32Array(4 * dim);
  [[1, 1], [1, -1], [-1, 1], [-1, -1]].forEach(([sc, sd], p) => {
    for (let i = 0; i < dim; i++) data[p * dim + i] = centre + (i < half ? sc * c : sd * d);
  });
  return {
    dataset: denseDataset(data, dim),
    dim,
    centre,
    c,
    d,
    posteriorMean(x, offset, { scale, std }) {
      let dotC = 0;
      let dotD = 0;
      for (let i = 0; i < dim; i++) {
        const v = x[offset + i] - scale * centre;
        if (i < half) dotC += v * c;
        else dotD += v * d;
      }
      const coefC = Math.tanh((scale * dotC) / (std * std));
      const coefD = Math.tanh((scale * dotD) / (std * std));
      return Float64Array.from({ length: dim }, (_, i) => centre + (i < half ? c * coefC : d * coefD));
    },
  };
}
