import type { DeviceBuffer } from '../backend.js';
import type { HostArray } from '../../tensor/dtype.js';

/** CPU memory: a typed array (half types hold raw 16-bit patterns). */
export class CpuBuffer implements DeviceBuffer {
  constructor(readonly data: HostArray) {}
  get byteLength(): number {
    return this.data.byteLength;
  }
}

export function f32(buf: DeviceBuffer): Float32Array {
  const d = (buf as CpuBuffer).data;
  if (!(d instanceof Float32Array)) throw new Error(`cpu kernel expected a float32 buffer, got ${d.constructor.name}`);
  return d;
}

export function raw(buf: DeviceBuffer): HostArray {
  return (buf as CpuBuffer).data;
}
