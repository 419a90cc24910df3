import { checkIndex, imageBytes, type Dataset, type ImageShape, type Indices } from './dataset.js';

/** A dataset whose images are all decoded into one NCHW uint8 array (CIFAR-10, MNIST, image folders). */
export class InMemoryDataset implements Dataset {
  readonly length: number;
  readonly getLabels?: (indices: Indices) => Int32Array;
  private readonly bytesPerImage: number;

  /**
   * @param images every image, NCHW, back to back
   * @param labels one label per image, or undefined for an unlabelled dataset
   */
  constructor(
    readonly name: string,
    readonly imageShape: ImageShape,
    private readonly images: Uint8Array,
    labels?: Uint8Array,
    readonly classNames?: readonly string[],
  ) {
    this.bytesPerImage = imageBytes(imageShape);
    if (images.length % this.bytesPerImage !== 0) {
      throw new Error(`${name}: ${images.length} bytes do not hold whole ${imageShape.join('x')} images`);
    }
    this.length = images.length / this.bytesPerImage;
    if (labels) {
      if (labels.length !== this.length) throw new Error(`${name}: ${labels.length} labels for ${this.length} images`);
      this.getLabels = (indices) => {
        const batch = new Int32Array(indices.length);
        for (let k = 0; k < indices.length; k++) {
          checkIndex(this, indices[k]);
          batch[k] = labels[indices[k]];
        }
        return batch;
      };
    }
  }

  getBatch(indices: Indices): Uint8Array {
    const size = this.bytesPerImage;
    const batch = new Uint8Array(indices.length * size);
    for (let k = 0; k < indices.length; k++) {
      const i = indices[k];
      checkIndex(this, i);
      batch.set(this.images.subarray(i * size, (i + 1) * size), k * size);
    }
    return batch;
  }
}
