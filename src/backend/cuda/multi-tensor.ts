/** The multi-tensor ops on the GPU: the per-tensor records go up as one table, and one launch covers them all. */
import { type AdamParams, type AdamTensor, type DeviceBuffer, type EmaPair, type TensorSpan, adamStepScalars } from '../backend.js';
import type { ArgValue } from './context.js';
import type { Launcher } from './launcher.js';
import { f32 } from './operands.js';
import type { KernelStruct } from './kernels/struct.js';
import { ADAM_ENTRY, EMA_ENTRY, MULTI_TENSOR, SPAN_ENTRY } from './kernels/multi-tensor.js';

/** The grid's y dimension holds one tensor each. */
const MAX_TENSORS = 65535;

/** Blocks along x for each tensor: enough for the longest, up to a few waves of the GPU spread over all tensors. */
function blocksPerTensor(l: Launcher, lengths: readonly number[]): number {
  const longest = lengths.reduce((a, b) => Math.max(a, b), 0);
  return Math.max(1, Math.min(Math.ceil(longest / 256), Math.ceil(l.blocksCap / lengths.length) * 4));
}

/** Uploads the table of `records` and launches `kernel` over it (blockIdx.y: the record) with `args` after the table. */
function launchOverTable(l: Launcher, kernel: string, entry: KernelStruct, records: readonly Record<string, number>[], blocks: number, args: readonly ArgValue[]): void {
  if (records.length > MAX_TENSORS) throw new Error(`${kernel}: ${records.length} tensors in one launch, at most ${MAX_TENSORS}`);
  const { allocator } = l;
  const table = entry.packArray(records);
  const dev = allocator.alloc(table.byteLength, 'uint8', table.byteLength);
  l.hostToDevice(dev.ptr, table, `${kernel} table`);
  l.kernel(MULTI_TENSOR, kernel).launch([blocks, records.length, 1], 256, 0, [dev.ptr, ...args], () => `${records.length} tensors, ${blocks} blocks each`);
  // stream-ordered: a later allocation reuses the table only after this launch has run
  allocator.release(dev);
}

const ptr = (b: DeviceBuffer, what: string): number => f32(b, what).ptr;
const spans = (tensors: readonly TensorSpan[], what: string) => tensors.map((t) => ({ x: ptr(t.buf, what), n: t.length }));

export function adamMany(l: Launcher, tensors: readonly AdamTensor[], p: AdamParams): void {
  if (tensors.length === 0) return;
  const records = tensors.map((t) => ({ param: ptr(t.param, 'adamMany'), grad: ptr(t.grad, 'adamMany'), m: ptr(t.m, 'adamMany'), v: ptr(t.v, 'adamMany'), n: t.length }));
  launchOverTable(l, 'adam_multi', ADAM_ENTRY, records, blocksPerTensor(l, tensors.map((t) => t.length)), adamScalars(p));
}

export function emaMany(l: Launcher, pairs: readonly EmaPair[], beta: number): void {
  if (pairs.length === 0) return;
  const records = pairs.map((e) => ({ average: ptr(e.average, 'emaMany'), value: ptr(e.value, 'emaMany'), n: e.length }));
  launchOverTable(l, 'ema_multi', EMA_ENTRY, records, blocksPerTensor(l, pairs.map((e) => e.length)), [beta, 1 - beta]);
}

export function nanToNumMany(l: Launcher, tensors: readonly TensorSpan[], posinf: number, found: DeviceBuffer): void {
  if (tensors.length === 0) return;
  launchOverTable(l, 'nan_to_num_multi', SPAN_ENTRY, spans(tensors, 'nanToNumMany'), blocksPerTensor(l, tensors.map((t) => t.length)), [posinf, ptr(found, 'nanToNumMany')]);
}

export function sumSquaresMany(l: Launcher, tensors: readonly TensorSpan[], out: DeviceBuffer): void {
  if (tensors.length === 0) return;
  const o = ptr(out, 'sumSquaresMany');
  const blocks = blocksPerTensor(l, tensors.map((t) => t.length));
  // one double per block of each tensor, added up per tensor in order by the finishing kernel
  const bytes = tensors.length * blocks * 8;
  const partial = l.allocator.alloc(bytes, 'uint8', bytes);
  launchOverTable(l, 'sum_squares_partial', SPAN_ENTRY, spans(tensors, 'sumSquaresMany'), blocks, [partial.ptr]);
  l.kernel(MULTI_TENSOR, 'sum_squares_finish').launch(l.grid(tensors.length), 256, 0, [partial.ptr, blocks, o, tensors.length]);
  l.allocator.release(partial);
}

export function scaleMany(l: Launcher, tensors: readonly TensorSpan[], scale: number): void {
  if (tensors.length === 0) return;
  launchOverTable(l, 'scale_multi', SPAN_ENTRY, spans(tensors, 'scaleMany'), blocksPerTensor(l, tensors.map((t) => t.length)), [scale]);
}

/** Adam's per-step scalars, computed in double on the host: beta1, beta2, step size, sqrt(bias correction 2), eps, decay. */
function adamScalars(p: AdamParams): number[] {
  const { stepSize, bc2Sqrt, decay } = adamStepScalars(p);
  return [p.beta1, p.beta2, stepSize, bc2Sqrt, p.eps, decay];
}
