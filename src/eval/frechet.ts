/**
 * Feature statistics (mean and covariance, float64) and the Frechet distance between two Gaussians,
 * d = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr sqrt(S1 S2), the formula of pytorch-fid and EDM.
 *
 * tr sqrt(S1 S2) is computed without a general matrix square root: S1 S2 is similar to the symmetric
 * positive semi-definite M = sqrt(S1) S2 sqrt(S1), so tr sqrt(S1 S2) = sum_i sqrt(lambda_i(M)). With
 * S1 = V diag(l) V^T and B = V diag(sqrt(l)), M is similar to B^T S2 B; its eigenvalues come from a
 * symmetric eigensolver, tiny negative ones (rounding of a singular covariance) clamped to zero. This is
 * exact where scipy's sqrtm of the non-symmetric product needs pytorch-fid's regularising fallback.
 */
import { symmetricEigen } from './symmetric-eigen.js';

/** Gaussian statistics of a feature set: mu [dim], sigma [dim, dim] row-major (symmetric), float64. */
export interface FeatureStatistics {
  mu: Float64Array;
  sigma: Float64Array;
  dim: number;
  /** Number of feature vectors they were computed from (0 when unknown, as for a published ref file). */
  count: number;
}

/**
 * Mean and covariance (np.cov's unbiased n - 1 normalisation) of feature vectors that arrive in batches,
 * without holding them: sums in float64 of the features and their outer products, both taken about a
 * shift (the first batch's mean) so that the covariance does not come from cancelling large sums.
 */
export class FeatureAccumulator {
  private count = 0;
  private shift: Float64Array | null = null;
  private readonly sum: Float64Array;
  /** Upper triangle of the sum of outer products, row-major. */
  private readonly products: Float64Array;

  constructor(readonly dim: number) {
    if (!Number.isInteger(dim) || dim < 1) throw new Error(`feature dimension must be a positive integer, got ${dim}`);
    this.sum = new Float64Array(dim);
    this.products = new Float64Array(dim * dim);
  }

  get samples(): number {
    return this.count;
  }

  /** Adds `rows` feature vectors, row-major [rows, dim]. */
  add(features: Float32Array | Float64Array, rows: number): void {
    const n = this.dim;
    if (features.length !== rows * n) throw new Error(`features: ${features.length} values is not ${rows} rows of ${n}`);
    if (rows === 0) return;
    for (let i = 0; i < features.length; i++) {
      if (!Number.isFinite(features[i])) throw new Error(`features: row ${Math.floor(i / n)} has a non-finite value (${features[i]}); the images or the feature network produced NaN or infinity`);
    }
    this.shift ??= columnMeans(features, rows, n);
    const shift = this.shift;
    // Transposed, [dim, rows]: the Gram kernel runs along samples.
    const centered = new Float64Array(rows * n);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < n; j++) {
        const x = features[r * n + j] - shift[j];
        centered[j * rows + r] = x;
        this.sum[j] += x;
      }
    }
    addRowProducts(this.products, centered, n, centered, n, rows, true);
    this.count += rows;
  }

  /** The statistics so far; needs at least two samples (a covariance of one sample is undefined). */
  statistics(): FeatureStatistics {
    const n = this.dim;
    const count = this.count;
    if (count < 2) throw new Error(`feature statistics need at least 2 samples, got ${count}`);
    const shift = this.shift!;
    const mu = new Float64Array(n);
    for (let j = 0; j < n; j++) mu[j] = shift[j] + this.sum[j] / count;
    const sigma = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let j = i; j < n; j++) {
        const c = (this.products[i * n + j] - (this.sum[i] * this.sum[j]) / count) / (count - 1);
        sigma[i * n + j] = c;
        sigma[j * n + i] = c;
      }
    }
    return { mu, sigma, dim: n, count };
  }
}

/** Statistics of one in-memory feature set [rows, dim]. */
export function featureStatistics(features: Float32Array | Float64Array, rows: number, dim: number): FeatureStatistics {
  const acc = new FeatureAccumulator(dim);
  acc.add(features, rows);
  return acc.statistics();
}

function columnMeans(x: Float32Array | Float64Array, rows: number, n: number): Float64Array {
  const mean = new Float64Array(n);
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) mean[j] += x[r * n + j];
  for (let j = 0; j < n; j++) mean[j] /= rows;
  return mean;
}

/**
 * out[i, j] += a_i . b_j for rows a_i of a [aRows, len] and b_j of b [bRows, len] (out is [aRows, bRows]),
 * only j >= i when `upper`. Every product here (the covariance sums, and the two products of
 * traceSqrtProduct) is a set of row dot products, computed in 4 x 4 tiles whose sixteen sums stay in
 * registers: eight loads feed sixteen multiply-adds (2.5x a row-at-a-time loop in V8). Tiles on the
 * diagonal of an `upper` product also fill a few entries below it.
 */
function addRowProducts(out: Float64Array, a: Float64Array, aRows: number, b: Float64Array, bRows: number, len: number, upper: boolean): void {
  const wholeA = aRows - (aRows % 4);
  const wholeB = bRows - (bRows % 4);
  for (let i = 0; i < wholeA; i += 4) {
    const a0 = i * len;
    const a1 = a0 + len;
    const a2 = a1 + len;
    const a3 = a2 + len;
    for (let j = upper ? i : 0; j < wholeB; j += 4) {
      const b0 = j * len;
      const b1 = b0 + len;
      const b2 = b1 + len;
      const b3 = b2 + len;
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let r = 0; r < len; r++) {
        const x0 = a[a0 + r], x1 = a[a1 + r], x2 = a[a2 + r], x3 = a[a3 + r];
        const y0 = b[b0 + r], y1 = b[b1 + r], y2 = b[b2 + r], y3 = b[b3 + r];
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
      }
      let p = i * bRows + j;
      out[p] += c00; out[p + 1] += c01; out[p + 2] += c02; out[p + 3] += c03;
      p += bRows;
      out[p] += c10; out[p + 1] += c11; out[p + 2] += c12; out[p + 3] += c13;
      p += bRows;
      out[p] += c20; out[p + 1] += c21; out[p + 2] += c22; out[p + 3] += c23;
      p += bRows;
      out[p] += c30; out[p + 1] += c31; out[p + 2] += c32; out[p + 3] += c33;
    }
  }
  // The pairs the tiles left: rows past the last whole tile of a, or columns past the last of b.
  for (let i = 0; i < aRows; i++) {
    for (let j = upper ? i : 0; j < bRows; j++) {
      if (i < wholeA && j < wholeB) continue;
      out[i * bRows + j] += dot(a, i * len, b, j * len, len);
    }
  }
}

/** The Frechet distance between two Gaussians given by their statistics. */
export function frechetDistance(a: Pick<FeatureStatistics, 'mu' | 'sigma' | 'dim'>, b: Pick<FeatureStatistics, 'mu' | 'sigma' | 'dim'>): number {
  const n = a.dim;
  if (b.dim !== n) throw new Error(`statistics of different feature sizes: ${n} and ${b.dim}; they come from different feature networks`);
  for (const s of [a, b]) {
    if (s.mu.length !== n || s.sigma.length !== n * n) throw new Error(`statistics: mu has ${s.mu.length} and sigma ${s.sigma.length} values for feature size ${n}`);
  }
  let meanTerm = 0;
  for (let j = 0; j < n; j++) meanTerm += (a.mu[j] - b.mu[j]) ** 2;
  let traces = 0;
  for (let j = 0; j < n; j++) traces += a.sigma[j * n + j] + b.sigma[j * n + j];
  return meanTerm + traces - 2 * traceSqrtProduct(a.sigma, b.sigma, n);
}

/** tr sqrt(S1 S2) for symmetric positive semi-definite S1, S2 (row-major n x n). */
export function traceSqrtProduct(s1: Float64Array, s2: Float64Array, n: number): number {
  const { values, vectors } = symmetricEigen(s1, n, { vectors: true });
  // Rows of bt are the eigenvectors scaled by sqrt(l): bt = B^T. Null directions of S1 contribute nothing.
  const kept: number[] = [];
  for (let j = 0; j < n; j++) if (values[j] > 0) kept.push(j);
  const k = kept.length;
  const bt = new Float64Array(k * n);
  kept.forEach((j, row) => {
    const scale = Math.sqrt(values[j]);
    for (let i = 0; i < n; i++) bt[row * n + i] = vectors![j * n + i] * scale;
  });
  // t = B^T S2 (k x n; S2 is symmetric, so its rows are its columns), then m = t B = B^T S2 B (k x k).
  const t = new Float64Array(k * n);
  addRowProducts(t, bt, k, s2, n, n, false);
  const m = new Float64Array(k * k);
  addRowProducts(m, t, k, bt, k, n, true);
  for (let r = 0; r < k; r++) for (let c = r + 1; c < k; c++) m[c * k + r] = m[r * k + c];
  const eig = symmetricEigen(m, k).values;
  let trace = 0;
  for (const l of eig) if (l > 0) trace += Math.sqrt(l);
  return trace;
}

/** Four independent partial sums: the loop is not one long dependency chain. */
function dot(x: Float64Array, xOffset: number, y: Float64Array, yOffset: number, n: number): number {
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += x[xOffset + i] * y[yOffset + i];
    s1 += x[xOffset + i + 1] * y[yOffset + i + 1];
    s2 += x[xOffset + i + 2] * y[yOffset + i + 2];
    s3 += x[xOffset + i + 3] * y[yOffset + i + 3];
  }
  for (; i < n; i++) s0 += x[xOffset + i] * y[yOffset + i];
  return s0 + s1 + s2 + s3;
}
