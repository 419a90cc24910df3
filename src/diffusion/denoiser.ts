/**
 * The one network interface every sampler uses: EDM's denoiser D(x; sigma), the estimate of the clean data
 * x0 from x = x0 + sigma * n. Each formulation wraps its own network into this form (EDM's EDMPrecond already
 * is one; a VP epsilon network goes through its preconditioning), so the samplers are written once, in
 * EDM's sigma, and serve every formulation. The noise level is per sample so that a multistage network can
 * route each sample to the decoder of its stage.
 */
import type { Tensor } from '../tensor/index.js';

/**
 * D(x; sigma) for x: [B, C, H, W] and sigma: [B] (EDM sigma); returns a tensor shaped like x. A
 * class-conditional network also takes one-hot class labels [B, classes]; without them (or null) it denoises
 * unconditionally, as it learned to from the labels that label dropout zeroed.
 */
export type Denoiser = (x: Tensor, sigma: Tensor, classLabels?: Tensor | null) => Tensor;

/**
 * A network told about the noise level through a label of its formulation's choosing: EDM's c_noise =
 * ln(sigma)/4, score_sde's 999 t, or DDPM's step index. Input [B, C, H, W] and labels [B]; it also receives
 * each sample's EDM sigma [B], which a multistage network routes on (its StagePartition is in sigma) and a
 * single-stage one ignores.
 */
export type NoiseConditionedNetwork = (x: Tensor, noiseLabel: Tensor, sigma: Tensor) => Tensor;
