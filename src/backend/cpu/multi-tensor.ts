/**
 * The multi-tensor ops of the CPU backend: the references of the GPU's one-launch kernels, one tensor after
 * another (Adam through the single-tensor reference, so results are those of a loop over adam()).
 */
import type { AdamParams, AdamTensor, DeviceBuffer, EmaPair, TensorSpan } from '../backend.js';
import { adam } from './adam.js';
import { f32 } from './buffer.js';

export function adamMany(tensors: readonly AdamTensor[], p: AdamParams): void {
  for (const t of tensors) adam(f32(t.param), f32(t.grad), f32(t.m), f32(t.v), t.length, p);
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
