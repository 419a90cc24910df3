/**
 * Feature statistics of 8-bit images, streamed: each batch goes through the feature network as
 * pytorch-fid feeds it (uint8 / 255, float32, [N, C, H, W]) and into the float64 accumulator, so 50,000
 * images never sit in memory together. The network always runs in float32 (autocast off), whatever
 * precision drew the images: the features must not depend on how the samples were made.
 */
import { noGrad, tidy, withAutocast } from '../tensor/engine.js';
import { fromArray } from '../tensor/tensor.js';
import type { Uint8Images } from '../data/grid.js';
import type { Dataset } from '../data/dataset.js';
import type { FeatureNetwork } from './feature-network.js';
import { FeatureAccumulator, type FeatureStatistics } from './frechet.js';

export class ImageFeatureStatistics {
  private readonly accumulator: FeatureAccumulator;

  constructor(readonly network: FeatureNetwork) {
    this.accumulator = new FeatureAccumulator(network.featureDim);
  }

  get samples(): number {
    return this.accumulator.samples;
  }

  add(images: Uint8Images): void {
    const { count, channels, height, width, pixels } = images;
    if (count === 0) return;
    const nchw = new Float32Array(pixels.length);
    const plane = height * width;
    for (let n = 0; n < count; n++) {
      for (let p = 0; p < plane; p++) {
        for (let c = 0; c < channels; c++) nchw[(n * channels + c) * plane + p] = pixels[(n * plane + p) * channels + c] / 255;
      }
    }
    const features = withAutocast(null, () =>
      noGrad(() =>
        tidy(() => {
          const f = this.network.features(fromArray(nchw, [count, channels, height, width]));
          if (f.dtype !== 'float32' || f.ndim !== 2 || f.shape[0] !== count || f.shape[1] !== this.network.featureDim) {
            throw new Error(`the feature network returned ${f.dtype} [${f.shape.join(', ')}], expected float32 [${count}, ${this.network.featureDim}]`);
          }
          return f.toFloat32Array();
        }),
      ),
    );
    this.accumulator.add(features, count);
  }

  statistics(): FeatureStatistics {
    if (this.accumulator.samples < 2) throw new Error(`a Frechet distance needs the statistics of at least 2 images, got ${this.accumulator.samples}`);
    return this.accumulator.statistics();
  }
}

/** A dataset's images at `indices` (NCHW in the dataset) as 8-bit NHWC images. */
export function datasetImages(dataset: Dataset, indices: readonly number[]): Uint8Images {
  const [channels, height, width] = dataset.imageShape;
  const nchw = dataset.getBatch(indices);
  const pixels = new Uint8Array(nchw.length);
  const plane = height * width;
  for (let n = 0; n < indices.length; n++) {
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < plane; p++) pixels[(n * plane + p) * channels + c] = nchw[(n * channels + c) * plane + p];
    }
  }
  return { count: indices.length, channels, height, width, pixels };
}

/** Feature statistics of a whole dataset (the reference of FID), in order, `batch` images at a time. */
export function datasetStatistics(dataset: Dataset, network: FeatureNetwork, batch: number, onProgress?: (done: number, total: number) => void): FeatureStatistics {
  const stats = new ImageFeatureStatistics(network);
  for (let start = 0; start < dataset.length; start += batch) {
    const indices = Array.from({ length: Math.min(batch, dataset.length - start) }, (_, k) => start + k);
    stats.add(datasetImages(dataset, indices));
    onProgress?.(start + indices.length, dataset.length);
  }
  return stats.statistics();
}
