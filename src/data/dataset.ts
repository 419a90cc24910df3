/** Channels, height and width of every image in a dataset. */
export type ImageShape = readonly [channels: number, height: number, width: number];

/** Positions of images in a dataset, in the order a batch should hold them. */
export type Indices = Int32Array | readonly number[];

/**
 * A fixed-size collection of same-shaped uint8 images. Training reads it only through getBatch, so a
 * dataset may hold its images in memory or make them on demand.
 */
export interface Dataset {
  /** Short name for logs and error messages. */
  readonly name: string;
  readonly length: number;
  readonly imageShape: ImageShape;
  /** Class names, index = label, when the dataset has labels. */
  readonly classNames?: readonly string[];
  /**
   * The images at `indices` as one NCHW block of indices.length * C * H * W bytes, in the order given.
   * The array is new and belongs to the caller (the loader flips images in place).
   */
  getBatch(indices: Indices): Uint8Array;
  /** The labels at `indices`, when the dataset has labels. */
  getLabels?(indices: Indices): Int32Array;
}

/** Bytes of one image of this shape. */
export function imageBytes(shape: ImageShape): number {
  return shape[0] * shape[1] * shape[2];
}

/** Throws a RangeError naming the dataset unless `index` is a valid position in it. */
export function checkIndex(dataset: Pick<Dataset, 'name' | 'length'>, index: number): void {
  if (!Number.isInteger(index) || index < 0 || index >= dataset.length) {
    throw new RangeError(`index ${index} is out of range for ${dataset.name} (${dataset.length} images)`);
  }
}
