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

/** How a per-sample host array was made: f of each element of `source` (perSampleValues). */
const derivations = new WeakMap<object, { source: ArrayLike<number>; f: (v: number) => number }>();

/**
 * f of each per-sample value of `source` (float64), remembering how it was made: a training step captured
 * into a CUDA graph makes the per-sample tensors of each replay again from that replay's sigma this way.
 */
export function perSampleValues(source: ArrayLike<number>, f: (v: number) => number): Float64Array {
  const out = Float64Array.from(source, f);
  derivations.set(out, { source, f });
  return out;
}

/** Makes a tensor of per-sample values while a graph is captured: gets the values' recipe from the step's sigma, or null where they were not made from it. */
export type PerSampleInputs = (shape: readonly number[], backend: Backend, recipe: ((sigma: Float64Array) => Float32Array) | null) => Tensor;

let capturing: { sigma: Float64Array; inputs: PerSampleInputs } | null = null;

/**
 * Runs fn (a training step being captured) with every per-sample tensor made through batchValues handed
 * to `inputs` with its recipe from `sigma` (the step's noise levels), instead of uploaded: the captured
 * step reads tensors that are written before each replay.
 */
export function withPerSampleInputs<T>(sigma: Float64Array, inputs: PerSampleInputs, fn: () => T): T {
  if (capturing) throw new Error('per-sample inputs are already being traced');
  capturing = { sigma, inputs };
  try {
    return fn();
  } finally {
    capturing = null;
  }
}

/** The recipe of `values` from the step's sigma: the chain of perSampleValues back to it, or null. */
function recipe(values: ArrayLike<number>, sigma: Float64Array): ((s: Float64Array) => Float64Array) | null {
  if (values === sigma) return (s) => s;
  const d = derivations.get(values as object);
  if (!d) return null;
  const parent = recipe(d.source, sigma);
  return parent && ((s) => Float64Array.from(parent(s), d.f));
}

/**
 * Per-sample host values as a float32 tensor of `shape` (B elements): one value for the whole batch (every
 * step of a sampler) is a fill on the device, no host-to-device copy.
 */
export function batchValues(values: ArrayLike<number>, shape: readonly number[], backend: Backend = getBackend()): Tensor {
  if (capturing) {
    const r = recipe(values, capturing.sigma);
    return capturing.inputs(shape, backend, r && ((s) => Float32Array.from(r(s))));
  }
  const host = values instanceof Float32Array ? values : Float32Array.from(values);
  const uniform = host.length > 0 && host.every((v) => Object.is(v, host[0]));
  return uniform ? full(shape, host[0], 'float32', backend) : fromArray(host, shape, 'float32', backend);
}

/** A float32 tensor [B] of `values` (rounded to float32, as the device holds them), readable without a download. */
export function noiseLevels(values: ArrayLike<number>, backend = getBackend()): Tensor {
  const host = Float32Array.from(values);
  derivations.set(host, { source: values, f: Math.fround });
  const t = batchValues(host, [host.length], backend);
  hostValues.set(t, host);
  return t;
}

/** The values of a noise-level tensor (not to be modified): from the host when `noiseLevels` made it, else read back from its backend. */
export function noiseLevelValues(sigma: Tensor): Float32Array {
  return hostValues.get(sigma) ?? sigma.toFloat32Array();
}
