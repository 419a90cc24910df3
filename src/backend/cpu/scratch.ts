/**
 * Reusable work memory for the CPU kernels. Kernels run one at a time on the main thread, so each kernel
 * module keeps its own buffers and grows them on demand instead of allocating (and zeroing) per call.
 * Contents are stale between calls: a kernel must write before it reads.
 */
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

export const float32Scratch = (): Scratch<Float32Array> => new Scratch((n) => new Float32Array(n));
export const float64Scratch = (): Scratch<Float64Array> => new Scratch((n) => new Float64Array(n));
