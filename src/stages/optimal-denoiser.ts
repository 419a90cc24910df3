/**
 * The optimal denoiser of a finite training set {y_i}: the posterior mean E[x0 | x_t = x] when x0 is drawn
 * uniformly from the set and x_t = s x0 + std eps. It is a softmax over the whole set,
 *
 *   E[x0 | x] = sum_i w_i y_i / sum_i w_i,   ln w_i = -||x - s y_i||^2 / (2 std^2),
 *
 * which the paper uses to measure how alike two noise levels are (the clustering of stages).
 *
 * How it is computed, and why:
 * - Through matrix products, so a GPU backend does the work: ||x - s y||^2 = ||x||^2 - 2 s x.y + s^2 ||y||^2,
 *   and the ||x||^2 term is the same for every y_i, so it drops out of the softmax. What remains is
 *   ln w_i = c (x.y_i - s ||y_i||^2 / 2) + const with c = s / std^2: one product of the data chunk with the
 *   query batch gives every score, and a second product of the weights with the chunk gives the numerator.
 * - In coordinates centred on the data mean (x - s m, y - m; the distance does not change): the norms whose
 *   difference the expansion takes shrink several times, and with them the float32 rounding of the scores.
 * - Streamed over the dataset in chunks with a log-sum-exp merge: each chunk's scores are shifted by their
 *   own maximum on the device, and the host merges the chunks' numerators and denominators in float64 with
 *   the factors exp(c (max_chunk - max_overall)). No dataset-sized buffer per query ever exists.
 * - Stable at both ends: as std -> 0 (c -> infinity) the weights go to 0 except at the nearest training
 *   vector, because the shifted scores are <= 0; as std -> infinity (c -> 0) every weight is 1 and the
 *   answer is the data mean. c is capped at 1e30 (finite in float32): a larger c changes no weight, since
 *   any score gap float32 can resolve already gives exp(-1e30 * gap) = 0.
 */
import type { Backend } from '../backend/backend.js';
import * as T from '../tensor/index.js';
import { type NoiseLevel, checkNoiseLevel } from './noise-level.js';
import { type VectorDataset, checkDataset } from './vector-dataset.js';

export interface OptimalDenoiserOptions {
  /** Training vectors per device chunk; bounds the [chunk, queries] score matrix. Default 4096. */
  chunkSize?: number;
  /** Queries per pass over the dataset. Default 256. */
  queryBatch?: number;
  /** Where the dataset lives and the products run; the current default backend when omitted. */
  backend?: Backend;
}

/** Called after each chunk of each pass over the dataset. */
export type DenoiseProgress = (done: number, total: number) => void;

/** Largest softmax inverse temperature passed to the device (see the file comment). */
const MAX_INVERSE_TEMPERATURE = 1e30;

interface DataChunk {
  /** Centred training vectors [n, dim]. */
  rows: T.Tensor;
  /** ||y_i - m||^2 / 2 as [n, 1]. */
  halfSquaredNorms: T.Tensor;
}

export class OptimalDenoiser {
  readonly count: number;
  readonly dim: number;
  /** The data mean, the denoiser's answer at infinite noise. */
  readonly mean: Float64Array;
  private readonly backend: Backend;
  private readonly queryBatch: number;
  private readonly chunks: DataChunk[] = [];

  constructor(dataset: VectorDataset, options: OptimalDenoiserOptions = {}) {
    checkDataset(dataset);
    const chunkSize = options.chunkSize ?? 4096;
    this.queryBatch = options.queryBatch ?? 256;
    for (const [name, v] of [['chunkSize', chunkSize], ['queryBatch', this.queryBatch]] as const) {
      if (!Number.isInteger(v) || v < 1) throw new Error(`optimal denoiser: ${name} must be a positive integer, got ${v}`);
    }
    this.backend = options.backend ?? T.getBackend();
    this.count = dataset.count;
    this.dim = dataset.dim;
    this.mean = datasetMean(dataset, chunkSize);
    for (let start = 0; start < this.count; start += chunkSize) {
      this.chunks.push(this.uploadChunk(dataset.rows(start, Math.min(start + chunkSize, this.count))));
    }
  }

  /**
   * E[x0 | x_t = x] for each query: x holds levels.length row-major vectors of `dim` values, and query q was
   * made with noise level levels[q] (x_t = scale * x0 + std * eps). Returns the means, row-major, in float64.
   */
  posteriorMean(x: ArrayLike<number>, levels: readonly Pick<NoiseLevel, 'scale' | 'std'>[], onProgress?: DenoiseProgress): Float64Array {
    const { dim } = this;
    if (x.length !== levels.length * dim) throw new Error(`optimal denoiser: ${x.length} values for ${levels.length} queries of dimension ${dim}`);
    levels.forEach(checkNoiseLevel);
    const out = new Float64Array(x.length);
    const batches = Math.ceil(levels.length / this.queryBatch);
    const total = batches * this.chunks.length;
    for (let b = 0; b < batches; b++) {
      const first = b * this.queryBatch;
      const batchLevels = levels.slice(first, first + this.queryBatch);
      this.denoiseBatch(x, first, batchLevels, out, (chunk) => onProgress?.(b * this.chunks.length + chunk + 1, total));
    }
    return out;
  }

  /** Frees the dataset's device copy. */
  dispose(): void {
    for (const c of this.chunks) {
      c.rows.dispose();
      c.halfSquaredNorms.dispose();
    }
    this.chunks.length = 0;
  }

  private uploadChunk(raw: Float32Array): DataChunk {
    const { dim, mean } = this;
    const n = raw.length / dim;
    const centred = new Float32Array(raw.length);
    const halfSquaredNorms = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      let norm = 0;
      for (let d = 0, o = i * dim; d < dim; d++) {
        const v = Math.fround(raw[o + d] - mean[d]);
        centred[o + d] = v;
        norm += v * v;
      }
      halfSquaredNorms[i] = norm / 2;
    }
    return {
      rows: T.keep(T.fromArray(centred, [n, dim], 'float32', this.backend)),
      halfSquaredNorms: T.keep(T.fromArray(halfSquaredNorms, [n, 1], 'float32', this.backend)),
    };
  }

  /** Queries [first, first + levels.length) of x, in one pass over the dataset. */
  private denoiseBatch(x: ArrayLike<number>, first: number, levels: readonly Pick<NoiseLevel, 'scale' | 'std'>[], out: Float64Array, chunkDone: (chunk: number) => void): void {
    const { dim, mean, backend } = this;
    const q = levels.length;
    const inverseTemperature = levels.map((l) => Math.fround(Math.min(l.scale / (l.std * l.std), MAX_INVERSE_TEMPERATURE)));
    // Centred queries, stored transposed [dim, q] so the score product reads both operands row by row.
    const queriesT = new Float32Array(dim * q);
    for (let j = 0; j < q; j++) {
      const s = levels[j].scale;
      for (let d = 0, o = (first + j) * dim; d < dim; d++) {
        const v = x[o + d];
        if (!Number.isFinite(v)) throw new Error(`optimal denoiser: query ${first + j} has a non-finite value at ${d}`);
        queriesT[d * q + j] = v - s * mean[d];
      }
    }
    const xT = T.fromArray(queriesT, [dim, q], 'float32', backend);
    const scaleRow = T.fromArray(levels.map((l) => l.scale), [1, q], 'float32', backend);
    const temperatureRow = T.fromArray(inverseTemperature, [1, q], 'float32', backend);

    const numerator = new Float64Array(q * dim);
    const denominator = new Float64Array(q);
    const runningMax = new Float64Array(q).fill(-Infinity);
    this.chunks.forEach((chunk, index) => {
      const [chunkMax, weightSum, weighted] = T.tidy(() => {
        // u_ij = (y_i - m).(x_j - s_j m) - s_j ||y_i - m||^2 / 2, the log-weight divided by c_j.
        const u = T.sub(T.matmul(chunk.rows, xT), T.mul(chunk.halfSquaredNorms, scaleRow));
        const uMax = T.max(u, [0], true);
        const w = T.exp(T.mul(T.sub(u, uMax), temperatureRow));
        return [uMax, T.sum(w, [0]), T.matmul(w, chunk.rows, true, false)];
      });
      const m = chunkMax.toFloat32Array();
      const ws = weightSum.toFloat32Array();
      const num = weighted.toFloat32Array();
      for (const t of [chunkMax, weightSum, weighted]) t.dispose();
      for (let j = 0; j < q; j++) {
        const c = inverseTemperature[j];
        const merged = Math.max(runningMax[j], m[j]);
        // Nothing accumulated yet means nothing to rescale (and avoids 0 * -Infinity when c = 0).
        const keep = runningMax[j] === -Infinity ? 0 : Math.exp(c * (runningMax[j] - merged));
        const add = Math.exp(c * (m[j] - merged));
        runningMax[j] = merged;
        denominator[j] = denominator[j] * keep + ws[j] * add;
        for (let d = 0, o = j * dim; d < dim; d++) numerator[o + d] = numerator[o + d] * keep + num[o + d] * add;
      }
      chunkDone(index);
    });
    for (const t of [xT, scaleRow, temperatureRow]) t.dispose();

    for (let j = 0; j < q; j++) {
      for (let d = 0, o = j * dim, oo = (first + j) * dim; d < dim; d++) out[oo + d] = mean[d] + numerator[o + d] / denominator[j];
    }
  }
}

function datasetMean(dataset: VectorDataset, chunkSize: number): Float64Array {
  const { count, dim } = dataset;
  const sum = new Float64Array(dim);
  for (let start = 0; start < count; start += chunkSize) {
    const rows = dataset.rows(start, Math.min(start + chunkSize, count));
    for (let o = 0; o < rows.length; o += dim) for (let d = 0; d < dim; d++) sum[d] += rows[o + d];
  }
  return sum.map((s) => s / count);
}
