/**
 * EDM's preconditioning (Karras et al. 2022, Table 1): D(x; sigma) = c_skip x + c_out F(c_in x; c_noise). Every
 * formulation is one choice of these four coefficients; a VP epsilon network is c_skip = 1, c_out = -sigma,
 * c_in = 1 / sqrt(1 + sigma^2) (which turns x0 + sigma n into x_t) and c_noise = its time label.
 */
import * as T from '../../tensor/index.js';
import type { Tensor } from '../../tensor/index.js';
import type { Denoiser, NoiseConditionedNetwork } from '../denoiser.js';

export interface Preconditioning {
  cSkip: number;
  cOut: number;
  cIn: number;
  cNoise: number;
}

/** Host values as a per-sample tensor [B, 1, ..., 1] that broadcasts against a batch of rank `ndim`. */
export function perSample(values: ArrayLike<number>, ndim: number, backend = T.getBackend()): Tensor {
  return T.fromArray(Float32Array.from(values), [values.length, ...new Array<number>(ndim - 1).fill(1)], 'float32', backend);
}

/**
 * Wraps F into a denoiser. The coefficients are computed on the host in float64 from the sigma tensor (B
 * numbers): formulas such as VP's t(sigma) = f(ln(1 + sigma^2)) lose most of their digits in float32 at
 * small sigma.
 */
export function preconditioned(net: NoiseConditionedNetwork, coefficients: (sigma: number) => Preconditioning): Denoiser {
  return (x, sigma) => {
    if (sigma.size !== x.shape[0]) throw new Error(`denoiser: ${sigma.size} noise levels for a batch of ${x.shape[0]}`);
    const c = Array.from(sigma.toFloat32Array(), coefficients);
    const column = (pick: (p: Preconditioning) => number): Tensor => perSample(c.map(pick), x.ndim, x.backend);
    const labels = T.fromArray(Float32Array.from(c, (p) => p.cNoise), [c.length], 'float32', x.backend);
    const f = net(T.mul(x, column((p) => p.cIn)), labels, sigma);
    return T.add(T.mul(x, column((p) => p.cSkip)), T.mul(f, column((p) => p.cOut)));
  };
}
