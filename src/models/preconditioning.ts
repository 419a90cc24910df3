/**
 * EDM's preconditioning (Karras et al. 2022, Table 1): D(x; sigma) = c_skip x + c_out F(c_in x; c_noise). Every
 * formulation is one choice of these four coefficients; a VP epsilon network is c_skip = 1, c_out = -sigma,
 * c_in = 1 / sqrt(1 + sigma^2) (which turns x0 + sigma n into x_t) and c_noise = its time label. EDMPrecond
 * and diffusion's `preconditioned` both apply it through `precondition` below.
 */
import { getBackend } from '../tensor/engine.js';
import { add, mul } from '../tensor/ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { batchValues, perSampleValues } from './noise-levels.js';

export interface Preconditioning {
  cSkip: number;
  cOut: number;
  cIn: number;
  cNoise: number;
}

/**
 * EDM's own coefficients: c_skip = sd^2 / (sigma^2 + sd^2), c_out = sigma sd / sqrt(sigma^2 + sd^2),
 * c_in = 1 / sqrt(sigma^2 + sd^2), c_noise = ln(sigma) / 4, so F's input and training target have unit
 * variance at every noise level (computed in float64 on the host).
 */
export function edmCoefficients(sigma: number, sigmaData: number): Preconditioning {
  const norm = Math.sqrt(sigma * sigma + sigmaData * sigmaData);
  return { cSkip: (sigmaData * sigmaData) / (norm * norm), cOut: (sigma * sigmaData) / norm, cIn: 1 / norm, cNoise: Math.log(sigma) / 4 };
}

/** Host values as a per-sample tensor [B, 1, ..., 1] that broadcasts against a batch of rank `ndim`. */
export function perSample(values: ArrayLike<number>, ndim: number, backend = getBackend()): Tensor {
  return batchValues(values, [values.length, ...new Array<number>(ndim - 1).fill(1)], backend);
}

/**
 * c_skip x + c_out F(c_in x; c_noise) with the coefficients of each sample's sigma; `network` receives the
 * scaled input and the noise labels [B].
 */
export function precondition(x: Tensor, sigma: ArrayLike<number>, coefficients: (sigma: number) => Preconditioning, network: (input: Tensor, noiseLabels: Tensor) => Tensor): Tensor {
  const column = (pick: (p: Preconditioning) => number): Tensor => perSample(perSampleValues(sigma, (s) => pick(coefficients(s))), x.ndim, x.backend);
  const labels = batchValues(perSampleValues(sigma, (s) => coefficients(s).cNoise), [sigma.length], x.backend);
  const f = network(mul(x, column((p) => p.cIn)), labels);
  return add(mul(x, column((p) => p.cSkip)), mul(f, column((p) => p.cOut)));
}
