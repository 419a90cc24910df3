/**
 * EDM (Karras et al. 2022): the network is the denoiser D(x; sigma) itself (EDMPrecond), trained at
 * ln(sigma) ~ N(P_mean, P_std^2) with the loss weight (sigma^2 + sigma_data^2) / (sigma sigma_data)^2, which makes
 * the effective target of the raw network unit-variance at every noise level.
 */
import * as T from '../../tensor/index.js';
import type { Tensor } from '../../tensor/index.js';
import { type NoiseDistribution, logNormalSigma } from '../noise-distribution.js';
import type { Denoiser } from '../denoiser.js';
import { type Preconditioning, edmCoefficients, perSample } from '../../models/preconditioning.js';
import { noiseLevels, perSampleValues } from '../../models/noise-levels.js';
import { type Formulation, checkBatch } from './formulation.js';

export interface EDMOptions {
  sigmaData?: number;
  pMean?: number;
  pStd?: number;
}

export class EDMFormulation implements Formulation<Denoiser> {
  readonly name = 'edm';
  readonly sigmaData: number;
  readonly pMean: number;
  readonly pStd: number;

  constructor(options: EDMOptions = {}) {
    this.sigmaData = options.sigmaData ?? 0.5;
    this.pMean = options.pMean ?? -1.2;
    this.pStd = options.pStd ?? 1.2;
    if (!(this.sigmaData > 0)) throw new Error(`EDM sigma_data must be > 0, got ${this.sigmaData}`);
    if (!(this.pStd > 0)) throw new Error(`EDM P_std must be > 0, got ${this.pStd}`);
  }

  /** EDMPrecond's coefficients: c_skip, c_out, c_in from sigma_data, c_noise = ln(sigma) / 4. */
  preconditioning(sigma: number): Preconditioning {
    return edmCoefficients(sigma, this.sigmaData);
  }

  lossWeight(sigma: number): number {
    return (sigma * sigma + this.sigmaData ** 2) / (sigma * this.sigmaData) ** 2;
  }

  trainingDistribution(): NoiseDistribution {
    return logNormalSigma(this.pMean, this.pStd);
  }

  /** Per sample: sum over pixels of weight(sigma) (D(x0 + sigma n; sigma) - x0)^2 (EDM sums, then divides by the batch). */
  loss(net: Denoiser, x0: Tensor, sigma: Float64Array, noise: Tensor): Tensor {
    checkBatch(x0, sigma, noise);
    const s = perSample(sigma, x0.ndim, x0.backend);
    const denoised = net(T.add(x0, T.mul(noise, s)), noiseLevels(sigma, x0.backend));
    const perPixel = T.mul(T.square(T.sub(denoised, x0)), perSample(perSampleValues(sigma, (v) => this.lossWeight(v)), x0.ndim, x0.backend));
    return T.sum(perPixel, x0.shape.slice(1).map((_, i) => i + 1));
  }

  denoiser(net: Denoiser): Denoiser {
    return net;
  }
}
