import type { DeviceBuffer } from '../backend.js';
import { type DType, type HostArray, allocHost } from '../../tensor/dtype.js';

/** CPU memory: a typed array (half types hold raw 16-bit patterns). */
export class CpuBuffer implements DeviceBuffer {
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

/** Backend memory: float32, the dtype the kernels compute in, lives in shared memory. */
export function allocCpu(dtype: DType, length: number): CpuBuffer {
  return new CpuBuffer(dtype === 'float32' ? sharedFloat32(length) : allocHost(dtype, length));
}

export function f32(buf: DeviceBuffer): Float32Array {
  const d = (buf as CpuBuffer).data;
  if (!(d instanceof Float32Array)) throw new Error(`cpu kernel expected a float32 buffer, got ${d.constructor.name}`);
  return d;
}

export function raw(buf: DeviceBuffer): HostArray {
  return (buf as CpuBuffer).data;
}
