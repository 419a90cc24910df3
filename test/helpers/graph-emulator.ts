/**
 * CUDA graph semantics on the CPU backend, for testing what drives graphs (train/step-graphs.ts) without a
 * GPU: while capturing, backend calls are recorded and not run; a replay runs the recording. As on the GPU
 * (backend/cuda/graph.ts): uploads replay the data they had at capture; random draws of the declared
 * stream replay at the replay's counter plus their offset from the capture's start; a download, a
 * synchronize or another stream's draw fails the capture. Memory: what a capture allocates comes from its
 * pool, where a buffer the captured work frees is handed to its later allocations of the same size class
 * (the GPU's graph pool does this), and allocGraphInput's buffers do not; once a graph has been captured
 * nothing is freed any more, so no buffer a recording names is handed out again (the GPU's graph pool, and
 * its holding of shared blocks a graph used, do this precisely).
 */
import type { Backend, DeviceBuffer } from '../../src/backend/backend.js';
import { GraphCaptureError, type PhiloxStream } from '../../src/backend/cuda/index.js';
import { sizeClass } from '../../src/backend/cuda/allocator.js';
import { CpuBuffer } from '../../src/backend/cpu/buffer.js';
import { type DType, bytesPerElement } from '../../src/base/dtype.js';

type Call = (counterBase: number) => void;

export interface EmulatedGraphs {
  /** A backend to train on (as the model's), with captureGraph. */
  backend: Backend & { captureGraph(fn: () => void, philox?: PhiloxStream): { replay(counter?: number): void; dispose(): void; bytes: number }; allocGraphInput(dtype: DType, length: number): DeviceBuffer };
  /** Replays run so far. */
  replays(): number;
  /**
   * From now on: 'replay' makes replays skip their first recorded call (a graph that replays wrongly), after
   * `goodReplays` more replays that do not; 'capture' fails captures.
   */
  sabotage(what: 'replay' | 'capture', goodReplays?: number): void;
  /**
   * From now on every float32 matmul output, eager or replayed, is scaled by 1 + relative x (a value in
   * [-1, 1) that changes with every call): the run-to-run noise of kernels that sum in a varying order
   * (cuDNN's atomics), under which two eager runs of a step differ too.
   */
  jitter(relative: number): void;
}

export function emulateGraphs(cpu: Backend): EmulatedGraphs {
  let recording: { calls: Call[]; philox: PhiloxStream | null; pool: GraphPool } | null = null;
  let captured = false;
  let replays = 0;
  /** Replays from which on each skips its first call (Infinity: none). */
  let corruptFrom = Infinity;
  let failCaptures = false;
  let jitter = 0;
  let jitterCalls = 0;
  const matmul = (...args: Parameters<Backend['matmul']>): void => {
    cpu.matmul(...args);
    const out = (args[2] as CpuBuffer).data;
    if (jitter === 0 || !(out instanceof Float32Array)) return;
    const call = ++jitterCalls;
    for (let i = 0; i < out.length; i++) out[i] *= 1 + jitter * (((Math.imul(i + 1, 2654435761) ^ Math.imul(call, 40503)) >>> 0) / 2 ** 31 - 1);
  };
  const random = (name: 'randomUniform' | 'randomNormal') => (out: DeviceBuffer, n: number, key: readonly [number, number], counter: number) => {
    if (!recording) return cpu[name](out, n, key, counter);
    const delta = drawOffset(recording.philox, key, counter);
    recording.calls.push((base) => cpu[name](out, n, key, base + delta));
  };
  const special: Record<string, unknown> = {
    alloc: (dtype: DType, n: number) => (recording ? recording.pool.alloc(dtype, n) : cpu.alloc(dtype, n)),
    allocGraphInput: (dtype: DType, n: number) => cpu.alloc(dtype, n),
    free: (b: DeviceBuffer) => {
      if (recording?.pool.free(b)) return;
      if (!recording && !captured) cpu.free(b);
    },
    upload: (b: DeviceBuffer, data: ArrayBufferView) => {
      if (!recording) return cpu.upload(b, data as never);
      const copy = (data as unknown as { slice(): never }).slice();
      recording.calls.push(() => cpu.upload(b, copy));
    },
    download: (b: DeviceBuffer, dtype: never, n: number) => {
      if (recording) throw new GraphCaptureError('a download inside a capture');
      return cpu.download(b, dtype, n);
    },
    synchronize: () => {
      if (recording) throw new GraphCaptureError('synchronize inside a capture');
    },
    matmul: (...args: Parameters<Backend['matmul']>) => (recording ? recording.calls.push(() => matmul(...args)) : matmul(...args)),
    randomUniform: random('randomUniform'),
    randomNormal: random('randomNormal'),
    dropout: (x: DeviceBuffer, out: DeviceBuffer, n: number, p: number, key: readonly [number, number], counter: number) => {
      if (!recording) return cpu.dropout(x, out, n, p, key, counter);
      const delta = drawOffset(recording.philox, key, counter);
      recording.calls.push((base) => cpu.dropout(x, out, n, p, key, base + delta));
    },
    captureGraph: (fn: () => void, philox?: PhiloxStream) => {
      if (recording) throw new GraphCaptureError('a graph is already being captured');
      if (failCaptures) throw new GraphCaptureError('sabotaged capture');
      const calls: Call[] = [];
      recording = { calls, philox: philox ?? null, pool: new GraphPool(cpu) };
      captured = true;
      try {
        fn();
      } catch (e) {
        throw new GraphCaptureError((e as Error).message);
      } finally {
        recording = null;
      }
      return {
        bytes: 0,
        replay: (counter?: number) => {
          replays++;
          if (philox && counter === undefined) throw new Error('a graph that draws random numbers replays at a counter');
          for (const call of replays >= corruptFrom ? calls.slice(1) : calls) call(counter ?? 0);
        },
        dispose: () => undefined,
      };
    },
  };
  const backend = new Proxy(cpu, {
    get(target, prop) {
      if (typeof prop === 'string' && prop in special) return special[prop];
      const v = (target as unknown as Record<string | symbol, unknown>)[prop];
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (!recording) return (v as (...a: unknown[]) => unknown).apply(target, args);
        recording.calls.push(() => (v as (...a: unknown[]) => unknown).apply(target, args));
      };
    },
  }) as EmulatedGraphs['backend'];
  const sabotage = (what: 'replay' | 'capture', goodReplays = 0): void => {
    if (what === 'replay') corruptFrom = replays + goodReplays + 1;
    else failCaptures = true;
  };
  return { backend, replays: () => replays, sabotage, jitter: (relative) => void (jitter = relative) };
}

function drawOffset(philox: PhiloxStream | null, key: readonly [number, number], counter: number): number {
  if (!philox || philox.key[0] !== key[0] || philox.key[1] !== key[1]) throw new GraphCaptureError('a random draw from a stream the capture was not given');
  return counter - philox.counter;
}

/**
 * A graph's memory while it is captured, as backend/cuda/allocator.ts GraphPool hands it out: a buffer freed
 * by the captured work goes back to its size class (here of one dtype too: the CPU's typed arrays), and a
 * later allocation of the capture of that class gets the same memory. The captured work runs in stream
 * order, so this is safe for what it writes and reads itself, not for what the host writes before a replay
 * into a buffer allocated late in the capture: the captured work before that allocation may use the memory.
 */
class GraphPool {
  private readonly blocks = new Map<DeviceBuffer, { block: CpuBuffer; sizeClass: string }>();
  private readonly freeBlocks = new Map<string, CpuBuffer[]>();

  constructor(private readonly cpu: Backend) {}

  alloc(dtype: DType, n: number): DeviceBuffer {
    const bytes = sizeClass(n * bytesPerElement(dtype));
    if (bytes === 0) return this.cpu.alloc(dtype, 0);
    const cls = `${dtype}:${bytes}`;
    const block = this.freeBlocks.get(cls)?.pop() ?? (this.cpu.alloc(dtype, bytes / bytesPerElement(dtype)) as CpuBuffer);
    const b = new CpuBuffer(block.data.subarray(0, n));
    this.blocks.set(b, { block, sizeClass: cls });
    return b;
  }

  /** Takes back a buffer of the pool (false: not one of its buffers). */
  free(b: DeviceBuffer): boolean {
    const owned = this.blocks.get(b);
    if (!owned) return false;
    const list = this.freeBlocks.get(owned.sizeClass);
    if (list) list.push(owned.block);
    else this.freeBlocks.set(owned.sizeClass, [owned.block]);
    return true;
  }
}
