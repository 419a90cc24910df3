import type { DeviceBuffer } from '../backend.js';
import { type DType, type HostArray, allocHost } from '../../base/dtype.js';

/** CPU memory: a typed array (half types hold raw 16-bit patterns). */
export class CpuBuffer implements DeviceBuffer {
  /** Set by freeCpu; the array may since belong to another buffer. */
  freed = false;
  constructor(readonly data: HostArray) {}
  get byteLength(): number {
    return this.data.byteLength;
  }
}

/**
 * A float32 array in shared memory, which the worker threads can read and write (see pool.ts). Allocating
 * one costs no more than an ordinary array, nor does computing on it, at any size measured (256 to 2^20
 * elements), so every float32 buffer is shared rather than only large ones.
 */
export function sharedFloat32(length: number): Float32Array {
  return new Float32Array(new SharedArrayBuffer(length * Float32Array.BYTES_PER_ELEMENT));
}

/**
 * Freed float32 arrays by length, handed out again by allocCpu. V8's collector all but ignores the size of
 * SharedArrayBuffer memory: left to it, the activations a training run frees piled up to gigabytes before
 * a collection (peak RSS 225 MB with ordinary arrays, 1.4 GB with shared ones, over 20 quickstart steps).
 * The tensor layer frees every buffer it is done with, and a training or sampling step asks for the same
 * lengths each time, so a cache by exact length serves nearly every allocation.
 */
const freeArrays = new Map<number, Float32Array[]>();
let cachedBytes = 0;
/** Arrays freed beyond this are left to the collector (only a workload of ever-new lengths gets there). */
const MAX_CACHED_BYTES = 1 << 30;

/**
 * Backend memory: float32, the dtype the kernels compute in, lives in shared memory. A reused array keeps
 * what it held: the Backend interface promises no contents (the tensor layer fills what it needs, and the
 * CUDA allocator hands out used blocks too), and zero-filling every reused buffer was 7% of a quickstart
 * step's CPU time. The full test suite passed with every float32 buffer handed out filled with NaN.
 */
export function allocCpu(dtype: DType, length: number): CpuBuffer {
  if (dtype !== 'float32') return new CpuBuffer(allocHost(dtype, length));
  const reused = freeArrays.get(length)?.pop();
  if (reused === undefined) return new CpuBuffer(sharedFloat32(length));
  cachedBytes -= reused.byteLength;
  return new CpuBuffer(reused);
}

export function freeCpu(buf: DeviceBuffer): void {
  const b = buf as CpuBuffer;
  if (b.freed) throw new Error('cpu buffer freed twice');
  b.freed = true;
  if (!(b.data instanceof Float32Array) || cachedBytes + b.byteLength > MAX_CACHED_BYTES) return;
  const list = freeArrays.get(b.data.length);
  if (list) list.push(b.data);
  else freeArrays.set(b.data.length, [b.data]);
  cachedBytes += b.byteLength;
}

export function f32(buf: DeviceBuffer): Float32Array {
  const d = (buf as CpuBuffer).data;
  if (!(d instanceof Float32Array)) throw new Error(`cpu kernel expected a float32 buffer, got ${d.constructor.name}`);
  return d;
}

export function raw(buf: DeviceBuffer): HostArray {
  return (buf as CpuBuffer).data;
}
