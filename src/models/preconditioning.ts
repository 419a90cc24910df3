/**
 * EDM's preconditioning (Karras et al. 2022, Table 1): D(x; sigma) = c_skip x + c_out F(c_in x; c_noise). Every
 * formulation is one choice of these four coefficients; a VP epsilon network is c_skip = 1, c_out = -sigma,
 * c_in = 1 / sqrt(1 + sigma^2) (which turns x0 + sigma n into x_t) and c_noise = its time label. EDMPrecond
 * and diffusion's `preconditioned` both apply it through `precondition` below.
 */
import { getBackend } from '../tensor/engine.js';
import { add, mul } from '../tensor/ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { batchValues } from './noise-levels.js';

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
  return batchValues(Float32Array.from(values), [values.length, ...new Array<number>(ndim - 1).fill(1)], backend);
}

/**
 * c_skip x + c_out F(c_in x; c_noise) with one set of coefficients per sample of x; `network` receives the
 * scaled input and the noise labels [B].
 */
export function precondition(x: Tensor, coefficients: readonly Preconditioning[], network: (input: Tensor, noiseLabels: Tensor) => Tensor): Tensor {
  const column = (pick: (p: Preconditioning) => number): Tensor => perSample(coefficients.map(pick), x.ndim, x.backend);
  const labels = batchValues(Float32Array.from(coefficients, (p) => p.cNoise), [coefficients.length], x.backend);
  const f = network(mul(x, column((p) => p.cIn)), labels);
  return add(mul(x, column((p) => p.cSkip)), mul(f, column((p) => p.cOut)));
}
