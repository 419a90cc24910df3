import type { Dataset } from '../data/dataset.js';
import { imageBytes } from '../data/dataset.js';

/**
 * A training set seen as `count` vectors of `dim` numbers (an image flattened in CHW order). Rows are read
 * on demand so a caller can decode a large file chunk by chunk instead of holding it twice as floats.
 */
export interface VectorDataset {
  readonly count: number;
  readonly dim: number;
  /** Rows [start, end) as one row-major array of (end - start) * dim values. */
  rows(start: number, end: number): Float32Array;
}

/** A dataset over vectors already in memory (row-major, `dim` values per row). */
export function denseDataset(data: Float32Array, dim: number): VectorDataset {
  if (!Number.isInteger(dim) || dim <= 0) throw new Error(`dataset vectors need a positive dimension, got ${dim}`);
  if (data.length % dim !== 0) throw new Error(`${data.length} values do not split into vectors of ${dim}`);
  return {
    count: data.length / dim,
    dim,
    rows: (start, end) => data.subarray(start * dim, end * dim),
  };
}

/**
 * The first `limit` images of an image dataset (all by default) as vectors of pixels in [0, 1], the
 * official clustering code's scale (torchvision's ToTensor, not centred), in which eta = 2/255 is two
 * 8-bit levels.
 */
export function imageVectors(images: Dataset, limit = images.length): VectorDataset {
  if (!Number.isInteger(limit) || limit < 0 || limit > images.length) throw new Error(`cannot take ${limit} of the ${images.length} images of ${images.name}`);
  return {
    count: limit,
    dim: imageBytes(images.imageShape),
    rows: (start, end) => {
      const bytes = images.getBatch(Array.from({ length: end - start }, (_, k) => start + k));
      const out = new Float32Array(bytes.length);
      for (let i = 0; i < bytes.length; i++) out[i] = bytes[i] / 255;
      return out;
    },
  };
}

/** Throws unless the dataset has at least one vector. */
export function checkDataset(dataset: VectorDataset): void {
  if (!(dataset.count >= 1) || !(dataset.dim >= 1)) {
    throw new Error(`the dataset is empty (${dataset.count} vectors of dimension ${dataset.dim}): the optimal denoiser needs training images`);
  }
}
