/** Adam on the GPU: one tensor per launch, or all of a model's in one launch. */
import type { AdamParams, DeviceBuffer } from '../backend.js';
import { check } from './driver.js';
import type { Launcher } from './launcher.js';
import { f32 } from './operands.js';
import { ADAM } from './kernels/adam.js';

export interface AdamTensor {
  param: DeviceBuffer;
  grad: DeviceBuffer;
  m: DeviceBuffer;
  v: DeviceBuffer;
  length: number;
}

/** One launch updating every parameter tensor, through a device table of their pointers. */
export function adamMany(l: Launcher, tensors: readonly AdamTensor[], p: AdamParams): void {
  const { ctx, allocator, kernel: k } = l;
  const d = ctx.d;
  if (tensors.length === 0) return;
  // the table: (param, grad, m, v, length) records of 5 x 8 bytes
  const table = new BigInt64Array(tensors.length * 5);
  let longest = 0;
  tensors.forEach((t, i) => {
    table[i * 5] = BigInt(f32(t.param, 'adam').ptr);
    table[i * 5 + 1] = BigInt(f32(t.grad, 'adam').ptr);
    table[i * 5 + 2] = BigInt(f32(t.m, 'adam').ptr);
    table[i * 5 + 3] = BigInt(f32(t.v, 'adam').ptr);
    table[i * 5 + 4] = BigInt(t.length);
    longest = Math.max(longest, t.length);
  });
  const dev = allocator.alloc(table.byteLength, 'uint8', table.byteLength);
  check(d, d.cuMemcpyHtoDAsync(dev.ptr, table, table.byteLength, ctx.stream), 'cuMemcpyHtoDAsync (adam table)');
  const blocksPerTensor = Math.max(1, Math.min(Math.ceil(longest / 256), Math.ceil(l.blocksCap / tensors.length) * 4));
  k(ADAM, 'adam_multi_f32').launch([blocksPerTensor, tensors.length, 1], 256, 0, [dev.ptr, ...adamScalars(p)]);
  allocator.release(dev);
}

/** Adam's per-step scalars, computed in double on the host: beta1, beta2, step size, sqrt(bias correction 2), eps, decay. */
export function adamScalars(p: AdamParams): number[] {
  const bc1 = 1 - Math.pow(p.beta1, p.step);
  const bc2Sqrt = Math.sqrt(1 - Math.pow(p.beta2, p.step));
  return [p.beta1, p.beta2, p.lr / bc1, bc2Sqrt, p.eps, 1 - p.lr * p.weightDecay];
}
