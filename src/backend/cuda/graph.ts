/**
 * CUDA graphs: the work a function queues on the stream is captured once (cuStreamBeginCapture) and then
 * replayed with one cuGraphLaunch, the host's per-launch cost paid once instead of every time.
 *
 * A replay runs exactly the captured launches, with the captured arguments and addresses. So, while a
 * graph is captured:
 * - allocations come from the graph's own pool (allocator.ts GraphPool), which it holds until destroyed,
 *   and a block the captured work frees is reused by its later allocations; so a buffer the host writes
 *   before each replay (an input) comes from allocGraphInput instead, since the captured work before the
 *   input's allocation may use its pool block and overwrite what the host wrote;
 * - host-to-device copies read from pinned memory the graph keeps (a replay copies from it again), since a
 *   copy from a JavaScript array would replay from memory that is gone;
 * - Philox draws of the declared stream read their counter from device memory (kernels/random.ts `_at`),
 *   a base written before each replay plus the delta the draw had from the base at capture; a draw of any
 *   other stream fails the capture rather than replaying the same numbers;
 * - anything that waits for the device (a download, a synchronize) fails the capture.
 * A capture that fails for any reason ends the stream's capture, frees what it took and throws a
 * GraphCaptureError: the caller runs the work eagerly instead. Capturing runs nothing: the work happens
 * at the first replay.
 */
import { CU_STREAM_CAPTURE_MODE_RELAXED, type GraphDriver, type Handle, check, loadGraphDriver } from './driver.js';
import { type CudaBuffer, GraphPool } from './allocator.js';
import type { Core } from './dispatch.js';

/** Why a capture failed; nothing of it is left queued or allocated. */
export class GraphCaptureError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GraphCaptureError';
  }
}

/** The Philox stream a captured function draws from: its key and the counter offset at the start of the capture. */
export interface PhiloxStream {
  key: readonly [number, number];
  counter: number;
}

/** Page-locked host memory in chunks, each staged upload at its own offset, kept for the graph's lifetime. */
class PinnedArena {
  private readonly chunks: { ptr: Handle; address: bigint; bytes: Uint8Array; used: number }[] = [];

  constructor(private readonly g: GraphDriver, private readonly core: Core) {}

  /** Copies `data` into pinned memory; returns its host address. */
  stage(data: ArrayBufferView): bigint {
    const n = data.byteLength;
    const aligned = Math.ceil(n / 16) * 16;
    let chunk = this.chunks[this.chunks.length - 1];
    if (!chunk || chunk.used + aligned > chunk.bytes.byteLength) chunk = this.grow(aligned);
    chunk.bytes.set(new Uint8Array(data.buffer, data.byteOffset, n), chunk.used);
    const address = chunk.address + BigInt(chunk.used);
    chunk.used += aligned;
    return address;
  }

  /** Adds a chunk of at least `bytes` (before a capture: the first, so that most captures allocate none while capturing). */
  grow(bytes: number): { ptr: Handle; address: bigint; bytes: Uint8Array; used: number } {
    const size = Math.max(bytes, 256 * 1024);
    const out: unknown[] = [null];
    check(this.core.ctx.d, this.g.cuMemAllocHost(out, size), `cuMemAllocHost(${size} bytes)`);
    const k = this.core.ctx.d.k;
    const chunk = { ptr: out[0], address: k.address(out[0]), bytes: new Uint8Array(k.view(out[0], size)), used: 0 };
    this.chunks.push(chunk);
    return chunk;
  }

  /** Frees the chunks (unchecked: it runs on paths that are already reporting an error). */
  free(): void {
    for (const c of this.chunks) this.g.cuMemFreeHost(c.ptr);
    this.chunks.length = 0;
  }
}

/** What the backend consults while a graph is captured (Core.capture). */
export class GraphCapture {
  constructor(
    private readonly g: GraphDriver,
    private readonly staging: PinnedArena,
    private readonly philox: (PhiloxStream & { slot: CudaBuffer }) | null,
  ) {}

  /** Queues a copy of `data` to device address `dst` from a pinned copy, which every replay copies again. */
  hostToDevice(core: Core, dst: number, data: ArrayBufferView, what: string): void {
    const src = this.staging.stage(data);
    check(core.ctx.d, this.g.cuMemcpyHtoDAsyncFromAddress(dst, src, data.byteLength, core.ctx.stream), `cuMemcpyHtoDAsync (${what}, captured)`);
  }

  /** Where a captured draw at (key, counter) reads its counter: the base slot and the fixed delta from it. */
  philoxCounter(key: readonly [number, number], counter: number): { base: number; delta: number } {
    const p = this.philox;
    if (!p || p.key[0] >>> 0 !== key[0] >>> 0 || p.key[1] >>> 0 !== key[1] >>> 0) {
      throw new GraphCaptureError('a random draw from a stream the capture was not given: a replay would repeat its numbers');
    }
    if (counter < p.counter) throw new GraphCaptureError(`a random draw at counter ${counter}, before the capture's start ${p.counter}`);
    return { base: p.slot.ptr, delta: counter - p.counter };
  }
}

/** A captured and instantiated graph; replay() runs it, dispose() frees it and its memory. */
export class CudaGraph {
  private disposed = false;

  constructor(
    private readonly core: Core,
    private readonly g: GraphDriver,
    private readonly graph: Handle,
    private readonly exec: Handle,
    private readonly pool: GraphPool,
    private readonly staging: PinnedArena,
    private readonly philoxSlot: CudaBuffer | null,
  ) {}

  /** Device memory the graph holds (its pool). */
  get bytes(): number {
    return this.pool.bytes;
  }

  /**
   * Queues the captured work; `philoxCounter`: the stream's counter offset this run starts at (required
   * when the capture drew random numbers), written to device memory first.
   */
  replay(philoxCounter?: number): void {
    if (this.disposed) throw new Error('replay of a destroyed CUDA graph');
    const d = this.core.ctx.d;
    if (this.philoxSlot) {
      if (philoxCounter === undefined || !Number.isSafeInteger(philoxCounter) || philoxCounter < 0) {
        throw new Error(`a graph that draws random numbers replays at a non-negative integer counter offset, got ${philoxCounter}`);
      }
      // from a JavaScript array: a pageable source is copied out before the call returns
      const base = new Uint8Array(BigUint64Array.of(BigInt(philoxCounter)).buffer);
      check(d, d.cuMemcpyHtoDAsync(this.philoxSlot.ptr, base, 8, this.core.ctx.stream), 'cuMemcpyHtoDAsync (graph random counter)');
    }
    check(d, this.g.cuGraphLaunch(this.exec, this.core.ctx.stream), 'cuGraphLaunch');
  }

  /** Destroys the graph and returns its memory (buffers of it still alive move to the shared cache). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.core.ctx.synchronize('cuStreamSynchronize before destroying a CUDA graph');
    check(this.core.ctx.d, this.g.cuGraphExecDestroy(this.exec), 'cuGraphExecDestroy');
    check(this.core.ctx.d, this.g.cuGraphDestroy(this.graph), 'cuGraphDestroy');
    if (this.philoxSlot && !this.philoxSlot.freed) this.core.allocator.release(this.philoxSlot);
    this.core.allocator.releasePool(this.pool);
    this.staging.free();
  }
}

/**
 * Captures the work `fn` queues into a graph (runs none of it). `philox`: the stream fn's random draws
 * come from, at its counter before fn. Throws GraphCaptureError, with everything released, if anything in
 * fn cannot be captured.
 */
export function captureGraph(core: Core, fn: () => void, philox?: PhiloxStream): CudaGraph {
  if (core.capture) throw new GraphCaptureError('a graph is already being captured');
  let g: GraphDriver;
  try {
    g = loadGraphDriver();
  } catch (e) {
    throw new GraphCaptureError(`this CUDA driver lacks the graph API: ${(e as Error).message}`);
  }
  const { ctx, allocator } = core;
  const d = ctx.d;
  const pool = new GraphPool();
  const staging = new PinnedArena(g, core);
  let slot: CudaBuffer | null = null;
  let graph: Handle = null;
  let exec: Handle = null;
  const fail = (why: string): never => {
    if (exec !== null) g.cuGraphExecDestroy(exec);
    if (graph !== null) g.cuGraphDestroy(graph);
    if (slot && !slot.freed) allocator.release(slot);
    allocator.releasePool(pool);
    staging.free();
    throw new GraphCaptureError(why);
  };
  let failure: string | null = null;
  allocator.beginPool(pool);
  try {
    // an input written before each replay, from the pool: its first block, which no captured work precedes
    if (philox) slot = allocator.alloc(8, 'uint8', 8);
    staging.grow(0);
    check(d, g.cuStreamBeginCapture(ctx.stream, CU_STREAM_CAPTURE_MODE_RELAXED), 'cuStreamBeginCapture');
  } catch (e) {
    allocator.endPool();
    return fail((e as Error).message);
  }
  core.capture = new GraphCapture(g, staging, philox && slot ? { key: philox.key, counter: philox.counter, slot } : null);
  try {
    fn();
  } catch (e) {
    failure = (e as Error).message;
  } finally {
    core.capture = null;
    allocator.endPool();
    const out: unknown[] = [null];
    const status = g.cuStreamEndCapture(ctx.stream, out);
    graph = out[0] ?? null;
    if (status !== 0 && failure === null) failure = driverMessage(core, status, 'cuStreamEndCapture');
  }
  if (failure !== null) return fail(failure);
  const instantiated: unknown[] = [null];
  const status = g.cuGraphInstantiateWithFlags(instantiated, graph, 0);
  if (status !== 0) return fail(driverMessage(core, status, 'cuGraphInstantiateWithFlags'));
  exec = instantiated[0];
  return new CudaGraph(core, g, graph, exec, pool, staging, slot);
}

/** check()'s message for a failed `call`. */
function driverMessage(core: Core, status: number, call: string): string {
  try {
    check(core.ctx.d, status, call);
  } catch (e) {
    return (e as Error).message;
  }
  return `${call}: status ${status}`;
}
