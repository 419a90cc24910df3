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

/** Throws unless the dataset has at least one vector. */
export function checkDataset(dataset: VectorDataset): void {
  if (!(dataset.count >= 1) || !(dataset.dim >= 1)) {
    throw new Error(`the dataset is empty (${dataset.count} vectors of dimension ${dataset.dim}): the optimal denoiser needs training images`);
  }
}
