/**
 * Noise levels sigma [B] as a tensor that remembers the host values it was made from. The denoisers take
 * sigma as a tensor, but routing samples to stages and computing the preconditioning coefficients happen on
 * the host; reading a GPU tensor back waits for every queued kernel (a stall of the launch queue in every
 * training step and every sampler evaluation). The callers that make sigma (the losses, the samplers) know
 * its values already, so a tensor made here answers from host memory; any other tensor is read back.
 */
import type { Backend } from '../backend/backend.js';
import { getBackend } from '../tensor/engine.js';
import { type Tensor, fromArray, full } from '../tensor/tensor.js';

const hostValues = new WeakMap<Tensor, Float32Array>();

/**
 * Per-sample host values as a float32 tensor of `shape` (B elements): one value for the whole batch (every
 * step of a sampler) is a fill on the device, no host-to-device copy.
 */
export function batchValues(values: Float32Array, shape: readonly number[], backend: Backend = getBackend()): Tensor {
  const uniform = values.length > 0 && values.every((v) => Object.is(v, values[0]));
  return uniform ? full(shape, values[0], 'float32', backend) : fromArray(values, shape, 'float32', backend);
}

/** A float32 tensor [B] of `values` (rounded to float32, as the device holds them), readable without a download. */
export function noiseLevels(values: ArrayLike<number>, backend = getBackend()): Tensor {
  const host = Float32Array.from(values);
  const t = batchValues(host, [host.length], backend);
  hostValues.set(t, host);
  return t;
}

/** The values of a noise-level tensor (not to be modified): from the host when `noiseLevels` made it, else read back from its backend. */
export function noiseLevelValues(sigma: Tensor): Float32Array {
  return hostValues.get(sigma) ?? sigma.toFloat32Array();
}
