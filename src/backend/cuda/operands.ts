/** Checks of the buffers handed to the CUDA backend: ours, alive, of the dtype a kernel expects. */
import type { DeviceBuffer } from '../backend.js';
import { CudaBuffer } from './allocator.js';
import { type FloatSuffix, floatSuffix } from './kernels/common.js';

export function buf(b: DeviceBuffer): CudaBuffer {
  const c = b as CudaBuffer;
  if (!(c instanceof CudaBuffer)) throw new Error('a buffer of another backend was passed to the CUDA backend');
  if (c.freed) throw new Error(`use of a freed GPU buffer (${c.dtype}, ${c.length} elements)`);
  return c.use();
}

export function f32(b: DeviceBuffer, what: string): CudaBuffer {
  const c = buf(b);
  if (c.dtype !== 'float32') throw new Error(`${what} expects float32 buffers, got ${c.dtype}`);
  return c;
}

/** A float32 or bfloat16 buffer and the suffix of the kernels instantiated for its type. */
export function fl(b: DeviceBuffer, what: string): { ptr: number; s: FloatSuffix } {
  const c = buf(b);
  return { ptr: c.ptr, s: floatSuffix(c.dtype, what) };
}

/** One storage type for all of an op's tensors: its kernel suffix. */
export function sameFloat(what: string, ...bs: DeviceBuffer[]): FloatSuffix {
  const types = bs.map((b) => fl(b, what).s);
  if (types.some((t) => t !== types[0])) throw new Error(`${what}: tensors of one dtype expected, got ${bs.map((b) => buf(b).dtype).join(', ')}`);
  return types[0];
}
