/** The multi-tensor ops on the GPU: the per-tensor records go up as one table, and one launch covers them all. */
import type { AdamParams, AdamTensor, DeviceBuffer, EmaPair, TensorSpan } from '../backend.js';
import { check } from './driver.js';
import type { ArgValue } from './context.js';
import type { Launcher } from './launcher.js';
import { f32 } from './operands.js';
import type { KernelStruct } from './kernels/struct.js';
import { ADAM_ENTRY, EMA_ENTRY, MULTI_TENSOR, SPAN_ENTRY } from './kernels/multi-tensor.js';

/** The grid's y dimension holds one tensor each. */
const MAX_TENSORS = 65535;

function launchOverTable(l: Launcher, kernel: string, entry: KernelStruct, records: readonly Record<string, number>[], lengths: readonly number[], scalars: readonly ArgValue[]): void {
  if (records.length === 0) return;
  if (records.length > MAX_TENSORS) throw new Error(`${kernel}: ${records.length} tensors in one launch, at most ${MAX_TENSORS}`);
  const { ctx, allocator } = l;
  const table = entry.packArray(records);
  const dev = allocator.alloc(table.byteLength, 'uint8', table.byteLength);
  check(ctx.d, ctx.d.cuMemcpyHtoDAsync(dev.ptr, table, table.byteLength, ctx.stream), `cuMemcpyHtoDAsync (${kernel} table)`);
  // enough blocks for the longest tensor, up to a few waves of the GPU spread over all tensors
  const longest = Math.max(...lengths);
  const blocksPerTensor = Math.max(1, Math.min(Math.ceil(longest / 256), Math.ceil(l.blocksCap / records.length) * 4));
  l.kernel(MULTI_TENSOR, kernel).launch([blocksPerTensor, records.length, 1], 256, 0, [dev.ptr, ...scalars], () => `${records.length} tensors, the longest ${longest} elements`);
  // stream-ordered: a later allocation reuses the table only after this launch has run
  allocator.release(dev);
}

const ptr = (b: DeviceBuffer, what: string): number => f32(b, what).ptr;

export function adamMany(l: Launcher, tensors: readonly AdamTensor[], p: AdamParams): void {
  const records = tensors.map((t) => ({ param: ptr(t.param, 'adamMany'), grad: ptr(t.grad, 'adamMany'), m: ptr(t.m, 'adamMany'), v: ptr(t.v, 'adamMany'), n: t.length }));
  launchOverTable(l, 'adam_multi', ADAM_ENTRY, records, tensors.map((t) => t.length), adamScalars(p));
}

export function emaMany(l: Launcher, pairs: readonly EmaPair[], beta: number): void {
  const records = pairs.map((e) => ({ average: ptr(e.average, 'emaMany'), value: ptr(e.value, 'emaMany'), n: e.length }));
  launchOverTable(l, 'ema_multi', EMA_ENTRY, records, pairs.map((e) => e.length), [beta, 1 - beta]);
}

export function nanToNumMany(l: Launcher, tensors: readonly TensorSpan[], posinf: number, found: DeviceBuffer): void {
  const records = tensors.map((t) => ({ x: ptr(t.buf, 'nanToNumMany'), n: t.length }));
  launchOverTable(l, 'nan_to_num_multi', SPAN_ENTRY, records, tensors.map((t) => t.length), [posinf, ptr(found, 'nanToNumMany')]);
}

/** Adam's per-step scalars, computed in double on the host: beta1, beta2, step size, sqrt(bias correction 2), eps, decay. */
function adamScalars(p: AdamParams): number[] {
  const bc1 = 1 - Math.pow(p.beta1, p.step);
  const bc2Sqrt = Math.sqrt(1 - Math.pow(p.beta2, p.step));
  return [p.beta1, p.beta2, p.lr / bc1, bc2Sqrt, p.eps, 1 - p.lr * p.weightDecay];
}
