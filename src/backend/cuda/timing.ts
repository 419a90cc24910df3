/** GPU time of queued work, between two CUDA events on the stream. */
import { check } from './driver.js';
import type { CudaContext } from './context.js';

/** Milliseconds of GPU time taken by the work fn queues on the context's stream (synchronises). */
export function timeMs(ctx: CudaContext, fn: () => void): number {
  const d = ctx.d;
  const start: unknown[] = [null];
  const end: unknown[] = [null];
  // The events are destroyed whatever happens (fn or a driver call throwing), unchecked so that a cleanup
  // failure cannot hide the error that got here.
  try {
    check(d, d.cuEventCreate(start, 0), 'cuEventCreate');
    check(d, d.cuEventCreate(end, 0), 'cuEventCreate');
    check(d, d.cuEventRecord(start[0], ctx.stream), 'cuEventRecord');
    fn();
    check(d, d.cuEventRecord(end[0], ctx.stream), 'cuEventRecord');
    check(d, d.cuEventSynchronize(end[0]), 'cuEventSynchronize');
    const ms = [0];
    check(d, d.cuEventElapsedTime(ms, start[0], end[0]), 'cuEventElapsedTime');
    return ms[0];
  } finally {
    for (const event of [start[0], end[0]]) if (event !== null) d.cuEventDestroy(event);
  }
}
