import type { Tensor } from '../tensor/tensor.js';

/**
 * A network whose features the Frechet distance compares: pytorch-fid's FID Inception-v3 (FID) or the
 * project's small classifier (FD_featnet). Both read images as pytorch-fid does: float32 [N, 3, H, W] in
 * [0, 1] (uint8 / 255), and return float32 [N, featureDim].
 */
export interface FeatureNetwork {
  /** "fid" for pytorch-fid's Inception-v3, "fd_featnet" for the project's classifier: the metric's name everywhere. */
  readonly metric: 'fid' | 'fd_featnet';
  readonly featureDim: number;
  features(images: Tensor): Tensor;
}
