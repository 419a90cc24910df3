/**
 * Noise levels sigma [B] as a tensor that remembers the host values it was made from. The denoisers take
 * sigma as a tensor, but routing samples to stages and computing the preconditioning coefficients happen on
 * the host; reading a GPU tensor back waits for every queued kernel (a stall of the launch queue in every
 * training step and every sampler evaluation). The callers that make sigma (the losses, the samplers) know
 * its values already, so a tensor made here answers from host memory; any other tensor is read back.
 */
import { getBackend } from '../tensor/engine.js';
import { type Tensor, fromArray, full } from '../tensor/tensor.js';

const hostValues = new WeakMap<Tensor, Float32Array>();

/** A float32 tensor [B] of `values` (rounded to float32, as the device holds them), readable without a download. */
export function noiseLevels(values: ArrayLike<number>, backend = getBackend()): Tensor {
  const host = Float32Array.from(values);
  // one value for the whole batch (a sampler's step) is a fill: no host-to-device copy
  const t = host.length > 0 && host.every((v) => v === host[0]) ? full([host.length], host[0], 'float32', backend) : fromArray(host, [host.length], 'float32', backend);
  hostValues.set(t, host);
  return t;
}

/** The values of a noise-level tensor (not to be modified): from the host when `noiseLevels` made it, else read back from its backend. */
export function noiseLevelValues(sigma: Tensor): Float32Array {
  return hostValues.get(sigma) ?? sigma.toFloat32Array();
}
