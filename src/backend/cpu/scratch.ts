/**
 * Reusable work memory for the CPU kernels. Each thread (the calling thread and every worker, see pool.ts)
 * has its own instance of each kernel module and runs one kernel at a time, so each module keeps its own
 * buffers and grows them on demand instead of allocating (and zeroing) per call. Contents are stale
 * between calls: a kernel must write before it reads.
 */
import { sharedFloat32 } from './buffer.js';

export class Scratch<A extends Float32Array | Float64Array> {
  private buffer: A;

  constructor(private readonly allocate: (length: number) => A) {
    this.buffer = allocate(0);
  }

  /** A buffer of at least `length` elements. */
  take(length: number): A {
    if (this.buffer.length < length) this.buffer = this.allocate(length);
    return this.buffer;
  }
}

/** Float32 scratch is shared memory: a kernel may pass it to a matrix product that splits over the workers. */
export const float32Scratch = (): Scratch<Float32Array> => new Scratch(sharedFloat32);
export const float64Scratch = (): Scratch<Float64Array> => new Scratch((n) => new Float64Array(n));
/** Float64 scratch in shared memory, for results the workers write (pool.ts runs a call on one thread if any array it gets is unshared). */
export const sharedFloat64Scratch = (): Scratch<Float64Array> => new Scratch((n) => new Float64Array(new SharedArrayBuffer(n * Float64Array.BYTES_PER_ELEMENT)));
