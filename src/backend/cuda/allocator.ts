/**
 * A caching device allocator. cuMemAlloc/cuMemFree are slow and cuMemFree synchronises the device, so freed
 * blocks go to a free list of their size class and the next request of that class takes one back. With one
 * stream, a block freed by the host can be handed out at once: the stream runs the old user's queued kernels
 * before the new user's.
 *
 * Size classes: multiples of 512 bytes up to 1 MiB; above, eight classes per power of two (at most 12.5%
 * waste). Out of memory: the cache is emptied and the allocation tried once more before the error, which
 * says what was asked for and where the memory is.
 *
 * A CUDA graph bakes the addresses it was captured with into its kernels, so what is allocated while a
 * stream captures comes from a GraphPool: blocks only that graph uses, reused among its own buffers (the
 * captured work runs in stream order, as eager work does) and never handed to anything else, so eager work
 * between two replays cannot be given memory a replay will overwrite. The pool's blocks go back to the
 * driver when the graph is destroyed. A graph's inputs, which the host writes before each replay, are no
 * pool blocks (allocShared): the captured work before an input was allocated may have used its block.
 */
import type { DeviceBuffer } from '../backend.js';
import type { DType } from '../../base/dtype.js';
import { CU_ERROR_OUT_OF_MEMORY, CudaError, check } from './driver.js';
import type { CudaContext } from './context.js';

export class CudaBuffer implements DeviceBuffer {
  freed = false;
  /** The graph pool the block belongs to (null: the shared cache); cleared when that pool is released while the buffer lives. */
  pool: GraphPool | null = null;
  /** A shared block that captured work used (operands.ts buf() marks it): its memory outlives it while graphs live. */
  usedByGraph = false;
  /** Whether a graph is being captured (set by the allocator), for buf() to mark what captured work uses. */
  static capturing = false;

  /** Marks the buffer used by the work being captured, if any; returns it. */
  use(): this {
    if (CudaBuffer.capturing && !this.pool) this.usedByGraph = true;
    return this;
  }
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

/** The device memory of one CUDA graph: its own free lists, every block it took from the driver, the buffers it has handed out. */
export class GraphPool {
  readonly free = new Map<number, number[]>();
  readonly blocks: { ptr: number; block: number }[] = [];
  readonly live = new Set<CudaBuffer>();
  released = false;

  /** Bytes taken from the driver for this pool. */
  get bytes(): number {
    return this.blocks.reduce((a, b) => a + b.block, 0);
  }
}

function takeFree(free: Map<number, number[]>, block: number): number | undefined {
  return free.get(block)?.pop();
}

function putFree(free: Map<number, number[]>, block: number, ptr: number): void {
  let list = free.get(block);
  if (!list) free.set(block, (list = []));
  list.push(ptr);
}

export function sizeClass(bytes: number): number {
  if (bytes <= 0) return 0;
  if (bytes <= MiB) return Math.ceil(bytes / 512) * 512;
  const step = 2 ** (Math.floor(Math.log2(bytes)) - 3);
  return Math.ceil(bytes / step) * step;
}

export class CachingAllocator {
  private readonly free = new Map<number, number[]>();
  private readonly stats: AllocatorStats = { currentBytes: 0, peakBytes: 0, reservedBytes: 0, allocations: 0, cacheHits: 0 };
  /** Where allocations go while a graph is captured (null: the shared cache). */
  private capturing: GraphPool | null = null;
  /** Graph pools not yet released. */
  private pools = 0;
  /** Shared blocks a graph used, freed while graphs lived; cached again when the last graph is released. */
  private readonly retired: CudaBuffer[] = [];

  constructor(private readonly ctx: CudaContext) {}

  alloc(bytes: number, dtype: DType, length: number): CudaBuffer {
    const block = sizeClass(bytes);
    this.stats.allocations++;
    if (block === 0) return new CudaBuffer(0, 0, 0, dtype, length);
    const pool = this.capturing;
    let ptr = takeFree(pool ? pool.free : this.free, block);
    if (ptr !== undefined) this.stats.cacheHits++;
    else {
      ptr = this.fresh(block, dtype, length);
      pool?.blocks.push({ ptr, block });
    }
    this.stats.currentBytes += block;
    this.stats.peakBytes = Math.max(this.stats.peakBytes, this.stats.currentBytes);
    const buf = new CudaBuffer(ptr, bytes, block, dtype, length);
    if (pool) {
      buf.pool = pool;
      pool.live.add(buf);
    }
    return buf;
  }

  /**
   * A block from the shared cache even while a graph is captured, for an input the host writes before each
   * replay (graph.ts). Held until no graph lives once freed, as every shared block a graph uses.
   */
  allocShared(bytes: number, dtype: DType, length: number): CudaBuffer {
    const pool = this.capturing;
    this.capturing = null;
    try {
      const buf = this.alloc(bytes, dtype, length);
      buf.usedByGraph = pool !== null;
      return buf;
    } finally {
      this.capturing = pool;
    }
  }

  release(buf: CudaBuffer): void {
    if (buf.freed) throw new Error(`double free of a ${buf.dtype} GPU buffer of ${buf.length} elements`);
    buf.freed = true;
    if (buf.blockBytes === 0) return;
    this.stats.currentBytes -= buf.blockBytes;
    if (buf.pool) {
      buf.pool.live.delete(buf);
      putFree(buf.pool.free, buf.blockBytes, buf.ptr);
    } else if (buf.usedByGraph && this.pools > 0) {
      // a graph reads or writes this block at every replay: held until no graph lives, so that eager work
      // is never given memory a replay overwrites
      this.retired.push(buf);
    } else putFree(this.free, buf.blockBytes, buf.ptr);
  }

  /** Sends every allocation to `pool` until endPool(); one pool at a time. */
  beginPool(pool: GraphPool): void {
    if (this.capturing) throw new Error('a graph pool is already taking the allocations (graphs are captured one at a time)');
    if (pool.released) throw new Error('a released graph pool cannot take allocations');
    this.capturing = pool;
    CudaBuffer.capturing = true;
    this.pools++;
  }

  endPool(): void {
    this.capturing = null;
    CudaBuffer.capturing = false;
  }

  /**
   * Returns a destroyed graph's pool to the driver. Buffers of it still alive (a graph's outputs that are
   * yet to be disposed) move to the shared cache with their blocks, so no live buffer loses its memory.
   */
  releasePool(pool: GraphPool): void {
    if (pool.released) return;
    if (this.capturing === pool) this.endPool();
    pool.released = true;
    this.pools--;
    const kept = new Set<number>();
    for (const buf of pool.live) {
      buf.pool = null;
      // another graph may have used it too (a workspace kept across captures)
      buf.usedByGraph = true;
      kept.add(buf.ptr);
    }
    pool.live.clear();
    const d = this.ctx.d;
    this.ctx.synchronize('cuStreamSynchronize before releasing a CUDA graph\'s memory');
    for (const { ptr, block } of pool.blocks) {
      if (kept.has(ptr)) continue;
      check(d, d.cuMemFree(ptr), 'cuMemFree (graph pool)');
      this.stats.reservedBytes -= block;
    }
    pool.free.clear();
    if (this.pools === 0) for (const buf of this.retired.splice(0)) putFree(this.free, buf.blockBytes, buf.ptr);
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
