/**
 * A caching device allocator. cuMemAlloc/cuMemFree are slow and cuMemFree synchronises the device, so freed
 * blocks go to a free list of their size class and the next request of that class takes one back. With one
 * stream, a block freed by the host can be handed out at once: the stream runs the old user's queued kernels
 * before the new user's.
 *
 * Size classes: multiples of 512 bytes up to 1 MiB; above, eight classes per power of two (at most 12.5%
 * waste). Out of memory: the cache is emptied and the allocation tried once more before the error, which
 * says what was asked for and where the memory is.
 */
import type { DeviceBuffer } from '../backend.js';
import type { DType } from '../../base/dtype.js';
import { CU_ERROR_OUT_OF_MEMORY, CudaError, check } from './driver.js';
import type { CudaContext } from './context.js';

export class CudaBuffer implements DeviceBuffer {
  freed = false;
  constructor(
    /** Device address (0 for an empty buffer). */
    readonly ptr: number,
    readonly byteLength: number,
    /** Bytes of the size class the block came from. */
    readonly blockBytes: number,
    readonly dtype: DType,
    readonly length: number,
  ) {}
}

export interface AllocatorStats {
  /** Bytes in live buffers (by size class). */
  currentBytes: number;
  peakBytes: number;
  /** Bytes held from the driver: live plus cached. */
  reservedBytes: number;
  allocations: number;
  /** Allocations served from the cache. */
  cacheHits: number;
}

const MiB = 1024 * 1024;

export function sizeClass(bytes: number): number {
  if (bytes <= 0) return 0;
  if (bytes <= MiB) return Math.ceil(bytes / 512) * 512;
  const step = 2 ** (Math.floor(Math.log2(bytes)) - 3);
  return Math.ceil(bytes / step) * step;
}

export class CachingAllocator {
  private readonly free = new Map<number, number[]>();
  private readonly stats: AllocatorStats = { currentBytes: 0, peakBytes: 0, reservedBytes: 0, allocations: 0, cacheHits: 0 };

  constructor(private readonly ctx: CudaContext) {}

  alloc(bytes: number, dtype: DType, length: number): CudaBuffer {
    const block = sizeClass(bytes);
    this.stats.allocations++;
    if (block === 0) return new CudaBuffer(0, 0, 0, dtype, length);
    let ptr = this.free.get(block)?.pop();
    if (ptr !== undefined) this.stats.cacheHits++;
    else ptr = this.fresh(block, dtype, length);
    this.stats.currentBytes += block;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.stats.currentBytes);
    return new CudaBuffer(ptr, bytes, block, dtype, length);
  }

  release(buf: CudaBuffer): void {
    if (buf.freed) throw new Error(`double free of a ${buf.dtype} GPU buffer of ${buf.length} elements`);
    buf.freed = true;
    if (buf.blockBytes === 0) return;
    this.stats.currentBytes -= buf.blockBytes;
    let list = this.free.get(buf.blockBytes);
    if (!list) this.free.set(buf.blockBytes, (list = []));
    list.push(buf.ptr);
  }

  /** Returns every cached (free) block to the driver. */
  emptyCache(): void {
    const d = this.ctx.d;
    this.ctx.synchronize('cuStreamSynchronize before releasing cached GPU memory');
    for (const [block, list] of this.free) {
      for (const ptr of list) {
        check(d, d.cuMemFree(ptr), 'cuMemFree');
        this.stats.reservedBytes -= block;
      }
    }
    this.free.clear();
  }

  snapshot(): AllocatorStats {
    return { ...this.stats };
  }

  resetPeak(): void {
    this.stats.peakBytes = this.stats.currentBytes;
  }

  private fresh(block: number, dtype: DType, length: number): number {
    const d = this.ctx.d;
    const out = [0];
    let status = d.cuMemAlloc(out, block);
    if (status === CU_ERROR_OUT_OF_MEMORY) {
      this.emptyCache();
      status = d.cuMemAlloc(out, block);
    }
    if (status === CU_ERROR_OUT_OF_MEMORY) {
      const free = [0];
      const total = [0];
      const mib = (b: number) => `${(b / MiB).toFixed(1)} MiB`;
      // A failing query only loses a detail of this message: the out-of-memory error is what matters.
      const device = d.cuMemGetInfo(free, total) === 0 ? `the device has ${mib(free[0])} free of ${mib(total[0])}` : 'the free device memory is unknown';
      throw new CudaError(
        `out of GPU memory allocating ${mib(block)} for ${length} ${dtype} elements: this process holds ${mib(this.stats.currentBytes)} in live tensors ` +
          `(peak ${mib(this.stats.peakBytes)}), ${device}. Use a smaller batch, or free tensors (tidy/dispose) that are no longer needed.`,
        status,
      );
    }
    check(d, status, `cuMemAlloc(${block} bytes)`);
    this.stats.reservedBytes += block;
    return out[0];
  }
}
