/**
 * Page-locked host memory: the DMA engine reads it directly, so an upload from it is truly asynchronous
 * (the host fills the next batch while the GPU copies this one) and runs at full PCIe/NVLink speed.
 * The buffer records an event after each queued copy; wait() before writing it again.
 */
import { check } from './driver.js';
import type { CudaContext } from './context.js';

export class PinnedBuffer {
  /** The pinned bytes, viewable as any typed array. */
  readonly array: ArrayBuffer;
  readonly pointer: unknown;
  private event: unknown = null;
  private freed = false;

  constructor(
    private readonly ctx: CudaContext,
    readonly byteLength: number,
  ) {
    const d = ctx.d;
    const p: unknown[] = [null];
    check(d, d.cuMemHostAlloc(p, Math.max(byteLength, 1), 0), `cuMemHostAlloc(${byteLength} bytes)`);
    this.pointer = p[0];
    this.array = d.k.view(this.pointer, Math.max(byteLength, 1));
  }

  /** Called by the backend after queuing a copy from this buffer. */
  recordUse(): void {
    const d = this.ctx.d;
    if (!this.event) {
      const e: unknown[] = [null];
      // CU_EVENT_DISABLE_TIMING: a pure dependency marker
      check(d, d.cuEventCreate(e, 2), 'cuEventCreate');
      this.event = e[0];
    }
    check(d, d.cuEventRecord(this.event, this.ctx.stream), 'cuEventRecord');
  }

  /** Blocks until the copies queued from this buffer are done, so it may be rewritten. */
  wait(): void {
    if (this.event) check(this.ctx.d, this.ctx.d.cuEventSynchronize(this.event), 'cuEventSynchronize (pinned buffer)');
  }

  free(): void {
    if (this.freed) return;
    this.wait();
    this.freed = true;
    if (this.event) check(this.ctx.d, this.ctx.d.cuEventDestroy(this.event), 'cuEventDestroy (pinned buffer)');
    check(this.ctx.d, this.ctx.d.cuMemFreeHost(this.pointer), 'cuMemFreeHost');
  }
}
