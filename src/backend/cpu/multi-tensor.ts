/**
 * The multi-tensor ops of the CPU backend: the references of the GPU's one-launch kernels, one tensor after
 * another (Adam through the single-tensor reference, so results are those of a loop over adam()).
 */
import type { AdamParams, AdamTensor, DeviceBuffer, EmaPair, TensorSpan } from '../backend.js';
import { adam } from './adam.js';
import { f32 } from './buffer.js';
import { chunksFor, parallelFor, parallelTask } from './pool.js';

/** adamMany's tensors in contiguous groups, one group per chunk: `arrays` holds param, grad, m, v of each tensor. */
interface AdamGroups {
  arrays: Float32Array[];
  lengths: number[];
  /** Group g is tensors starts[g] .. starts[g + 1] - 1. */
  starts: number[];
  p: AdamParams;
}

const adamGroups = parallelTask('adamMany', ({ arrays, lengths, starts, p }: AdamGroups, group: number) => {
  for (let t = starts[group]; t < starts[group + 1]; t++) adam(arrays[4 * t], arrays[4 * t + 1], arrays[4 * t + 2], arrays[4 * t + 3], lengths[t], p);
});

/**
 * Split over the pool by whole tensors: a step's Adam reads and writes four arrays per parameter, cold in
 * the cache by then (the workers touched them last), so one thread alone was latency-bound (21 ms for the
 * quickstart's 224k parameters against 1.7 ms on fresh copies). Each element's update is independent, so
 * any split gives the same bits.
 */
export function adamMany(tensors: readonly AdamTensor[], p: AdamParams): void {
  const lengths = tensors.map((t) => t.length);
  const total = lengths.reduce((a, b) => a + b, 0);
  // About eight multiply-add-like operations per element.
  const chunks = Math.min(chunksFor(8 * total), tensors.length);
  const starts = [0];
  let seen = 0;
  lengths.forEach((n, t) => {
    seen += n;
    if (starts.length < chunks && seen >= (total * starts.length) / chunks) starts.push(t + 1);
  });
  // the last group ends at the last tensor; groups past it (when fewer cuts were made) are empty
  while (starts.length <= chunks) starts.push(tensors.length);
  const arrays = tensors.flatMap((t) => [f32(t.param), f32(t.grad), f32(t.m), f32(t.v)]);
  parallelFor(adamGroups, { arrays, lengths, starts, p }, chunks);
}

/** As mulScalar(average, beta), mulScalar(value, 1 - beta) and their sum: each product rounded to float32, then the sum. */
export function emaMany(pairs: readonly EmaPair[], beta: number): void {
  const rest = 1 - beta;
  for (const { average, value, length } of pairs) {
    const a = f32(average);
    const x = f32(value);
    for (let i = 0; i < length; i++) a[i] = Math.fround(a[i] * beta + 0) + Math.fround(x[i] * rest + 0);
  }
}

export function nanToNumMany(tensors: readonly TensorSpan[], posinf: number, found: DeviceBuffer): void {
  const flag = f32(found);
  for (const t of tensors) {
    const x = f32(t.buf);
    for (let i = 0; i < t.length; i++) {
      const v = x[i];
      if (v === v && v !== Infinity && v !== -Infinity) continue;
      x[i] = v !== v ? 0 : v > 0 ? posinf : -posinf;
      flag[0] = 1;
    }
  }
}

export function sumSquaresMany(tensors: readonly TensorSpan[], out: DeviceBuffer): void {
  const sums = f32(out);
  tensors.forEach((t, k) => {
    const x = f32(t.buf);
    let sum = 0;
    for (let i = 0; i < t.length; i++) sum += Math.fround(x[i] * x[i]);
    sums[k] = sum;
  });
}

export function scaleMany(tensors: readonly TensorSpan[], scale: number): void {
  for (const t of tensors) {
    const x = f32(t.buf);
    for (let i = 0; i < t.length; i++) x[i] = x[i] * scale + 0;
  }
}
