/**
 * The CPU backend's convolutions through oneDNN (onednn.ts), where the library is present. Each
 * convolution shape gets, once, a primitive per pass with every operand in the layout oneDNN chooses
 * (format "any": blocked by 16 channels on AVX-512, its direct JIT kernels), and reorders between those and
 * the backend's NCHW / OIHW arrays around it, as PyTorch's CPU convolutions do. Plans are cached by shape.
 *
 * Threads: the batch is cut into chunks of images whose size depends on the shape alone (CHUNK_WORK), never
 * on the thread count; the pool (pool.ts) spreads the chunks over its threads, and each thread runs them
 * through its own single-threaded primitives. Forward and data gradient write disjoint images; the filter
 * gradient of each chunk goes to its own slice and the slices are summed in chunk order. So the results
 * are the same bits at any thread count (oneDNN's own kernels, and so its bits, still depend on the CPU:
 * AVX-512, AVX2, ...).
 */
import type { Conv2dParams } from '../backend.js';
import { Arg, FormatTag, type Handle, type OneDnn, Query, oneDnn } from './onednn.js';
import { forEachUnit, parallelTask } from './pool.js';
import { float32Scratch } from './scratch.js';

/** One operand of a primitive: the backend's array, in its own layout, reordered to the primitive's where they differ. */
interface Operand {
  arg: number;
  /** The backend array's layout. */
  plain: Buffer;
  /** The query for the layout the primitive chose, or null where the plain layout was given (bias). */
  chosen: number | null;
  output: boolean;
}

interface Step {
  primitive: Handle;
  args: Buffer;
  count: number;
}

/** A primitive with its reorders, over memory objects pointed at the caller's arrays at each call. */
class Plan {
  private readonly steps: Step[];
  /** Memory objects over the caller's arrays, in the order run() takes the arrays. */
  private readonly plainMemories: Handle[];

  constructor(
    private readonly lib: OneDnn,
    readonly pd: Handle,
    operands: readonly Operand[],
  ) {
    const before: Step[] = [];
    const after: Step[] = [];
    const pairs: [number, Handle][] = [];
    this.plainMemories = operands.map((o) => {
      const plainMemory = lib.memory(o.plain, false);
      const chosen = o.chosen === null ? o.plain : lib.chosenDesc(pd, o.chosen);
      if (o.chosen === null || lib.sameDesc(chosen, o.plain)) {
        pairs.push([o.arg, plainMemory]);
        return plainMemory;
      }
      const inner = lib.memory(chosen, true);
      pairs.push([o.arg, inner]);
      const [from, to] = o.output ? [inner, plainMemory] : [plainMemory, inner];
      const reorder = lib.primitive(o.output ? lib.reorder(chosen, o.plain) : lib.reorder(o.plain, chosen));
      (o.output ? after : before).push({ primitive: reorder, args: lib.execArgs([[Arg.from, from], [Arg.to, to]]), count: 2 });
      return plainMemory;
    });
    this.steps = [...before, { primitive: lib.primitive(pd), args: lib.execArgs(pairs), count: pairs.length }, ...after];
  }

  run(arrays: readonly Float32Array[]): void {
    arrays.forEach((a, i) => this.lib.setData(this.plainMemories[i], a));
    this.lib.execute(this.steps);
  }
}

interface ConvPlans {
  forward: Plan;
  forwardNoBias: Plan;
  backwardData: Plan;
  backwardWeights: Plan;
}

const plans = new Map<string, ConvPlans>();

const shapeKey = (p: Conv2dParams): string => `${p.n},${p.cIn},${p.h},${p.w},${p.cOut},${p.kh},${p.kw},${p.padH},${p.padW},${p.stride}`;

/** The three passes' plans for a convolution shape (batch size included), built on first use on this thread. */
export function convPlans(lib: OneDnn, p: Conv2dParams): ConvPlans {
  const key = shapeKey(p);
  let found = plans.get(key);
  if (!found) {
    found = build(lib, p);
    plans.set(key, found);
  }
  return found;
}

function build(lib: OneDnn, p: Conv2dParams): ConvPlans {
  const xDims = [p.n, p.cIn, p.h, p.w];
  const wDims = [p.cOut, p.cIn, p.kh, p.kw];
  const yDims = [p.n, p.cOut, p.hOut, p.wOut];
  const [x, w, y, bias] = [lib.memoryDesc(xDims, FormatTag.abcd), lib.memoryDesc(wDims, FormatTag.abcd), lib.memoryDesc(yDims, FormatTag.abcd), lib.memoryDesc([p.cOut], FormatTag.a)];
  const [xAny, wAny, yAny] = [lib.memoryDesc(xDims, FormatTag.any), lib.memoryDesc(wDims, FormatTag.any), lib.memoryDesc(yDims, FormatTag.any)];
  const forwardPd = lib.convolutionForward(xAny, wAny, bias, yAny, p.stride, p.padH, p.padW);
  const forwardNoBiasPd = lib.convolutionForward(xAny, wAny, null, yAny, p.stride, p.padH, p.padW);
  const input = (arg: number, plain: Buffer, chosen: number): Operand => ({ arg, plain, chosen, output: false });
  const output = (arg: number, plain: Buffer, chosen: number): Operand => ({ arg, plain, chosen, output: true });
  return {
    forward: new Plan(lib, forwardPd, [input(Arg.src, x, Query.srcMd), input(Arg.weights, w, Query.weightsMd), { arg: Arg.bias, plain: bias, chosen: null, output: false }, output(Arg.dst, y, Query.dstMd)]),
    forwardNoBias: new Plan(lib, forwardNoBiasPd, [input(Arg.src, x, Query.srcMd), input(Arg.weights, w, Query.weightsMd), output(Arg.dst, y, Query.dstMd)]),
    backwardData: new Plan(lib, lib.convolutionBackwardData(xAny, wAny, yAny, p.stride, p.padH, p.padW, forwardNoBiasPd), [
      input(Arg.diffDst, y, Query.diffDstMd),
      input(Arg.weights, w, Query.weightsMd),
      output(Arg.diffSrc, x, Query.diffSrcMd),
    ]),
    backwardWeights: new Plan(lib, lib.convolutionBackwardWeights(xAny, wAny, yAny, p.stride, p.padH, p.padW, forwardNoBiasPd), [
      input(Arg.src, x, Query.srcMd),
      input(Arg.diffDst, y, Query.diffDstMd),
      output(Arg.diffWeights, w, Query.diffWeightsMd),
    ]),
  };
}

/**
 * Multiply-adds a chunk of images is given at least. Measured on one core of the 2-core Xeon (AVX-512),
 * a call costs about 5-7 us beyond its arithmetic (koffi, the reorders, the kernel's set-up), a chunk of
 * this size about 60 us. Chunks run one after the other unless the pool splits the call (big batches,
 * see POOL_UNITS_PER_MULTIPLY_ADD).
 */
const CHUNK_WORK = 1 << 22;

/** Multiply-adds of each of the three passes. */
const work = (p: Conv2dParams): number => p.n * p.cOut * p.cIn * p.kh * p.kw * p.hOut * p.wOut;

/**
 * The pool's unit of work (pool.ts) is a multiply-add of its WebAssembly kernels, about 0.6 ns; oneDNN's
 * AVX-512 kernels do one in about 0.015 ns (a 3x3 16 -> 16 convolution of 16 images at 16x16, 9.4M
 * multiply-adds, in 134 us on one core). Counted in the pool's units, a quickstart batch's convolutions
 * stay on the calling thread: waking a worker cost more than half of one saved.
 */
const POOL_UNITS_PER_MULTIPLY_ADD = 1 / 40;

/** Images per chunk: a function of the shape only. */
export function imagesPerChunk(p: Conv2dParams): number {
  return Math.min(p.n, Math.max(1, Math.ceil((CHUNK_WORK * p.n) / Math.max(work(p), 1))));
}

interface Call {
  /** x (forward, filter gradient) or dy (data gradient). */
  input: Float32Array;
  /** w (forward, data gradient) or dy (filter gradient). */
  second: Float32Array;
  bias: Float32Array | null;
  /** y, dx, or the filter gradient's per-chunk slices. */
  out: Float32Array;
  p: Conv2dParams;
  perChunk: number;
}

/** The library on this thread: the main thread checked it loads before choosing this path. */
function library(): OneDnn {
  const lib = oneDnn();
  if (!lib) throw new Error('oneDNN did not load on a CPU worker thread although it loaded on the main thread');
  return lib;
}

/** Chunk `c`'s images as a convolution of their own. */
function chunkOf({ p, perChunk }: Call, c: number): { first: number; q: Conv2dParams } {
  const first = c * perChunk;
  return { first, q: { ...p, n: Math.min(perChunk, p.n - first) } };
}

const images = (a: Float32Array, first: number, count: number, size: number): Float32Array => a.subarray(first * size, (first + count) * size);

const forwardChunk = parallelTask('oneDnnConv2d', (call: Call, c: number) => {
  const { first, q } = chunkOf(call, c);
  const plan = convPlans(library(), q);
  const x = images(call.input, first, q.n, q.cIn * q.h * q.w);
  const y = images(call.out, first, q.n, q.cOut * q.hOut * q.wOut);
  if (call.bias) plan.forward.run([x, call.second, call.bias, y]);
  else plan.forwardNoBias.run([x, call.second, y]);
});

const backwardDataChunk = parallelTask('oneDnnConv2dBackwardData', (call: Call, c: number) => {
  const { first, q } = chunkOf(call, c);
  const dy = images(call.input, first, q.n, q.cOut * q.hOut * q.wOut);
  const dx = images(call.out, first, q.n, q.cIn * q.h * q.w);
  convPlans(library(), q).backwardData.run([dy, call.second, dx]);
});

const backwardWeightsChunk = parallelTask('oneDnnConv2dBackwardFilter', (call: Call, c: number) => {
  const { first, q } = chunkOf(call, c);
  const x = images(call.input, first, q.n, q.cIn * q.h * q.w);
  const dy = images(call.second, first, q.n, q.cOut * q.hOut * q.wOut);
  const size = q.cOut * q.cIn * q.kh * q.kw;
  convPlans(library(), q).backwardWeights.run([x, dy, call.out.subarray(c * size, (c + 1) * size)]);
});

const filterSlices = float32Scratch();

function run(task: typeof forwardChunk, call: Omit<Call, 'perChunk'>): number {
  const perChunk = imagesPerChunk(call.p);
  const chunks = Math.ceil(call.p.n / perChunk);
  forEachUnit(task, { ...call, perChunk }, chunks, work(call.p) * POOL_UNITS_PER_MULTIPLY_ADD);
  return chunks;
}

const accepted = new Map<string, boolean>();

/**
 * Whether oneDNN takes this convolution: its primitives for the batch's chunk shapes build (on this thread,
 * once per shape). Where one does not (an implementation oneDNN lacks), the backend uses its WebAssembly
 * kernels for that shape, on every thread alike.
 */
export function oneDnnAccepts(lib: OneDnn, p: Conv2dParams): boolean {
  const key = shapeKey(p);
  let ok = accepted.get(key);
  if (ok === undefined) {
    const perChunk = imagesPerChunk(p);
    try {
      for (const n of new Set([perChunk, p.n % perChunk].filter((k) => k > 0))) convPlans(lib, { ...p, n });
      ok = true;
    } catch {
      ok = false;
    }
    accepted.set(key, ok);
  }
  return ok;
}

export function oneDnnConv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, p: Conv2dParams): void {
  if (p.n > 0) run(forwardChunk, { input: x, second: w, bias, out: y, p });
}

export function oneDnnConv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, p: Conv2dParams): void {
  if (p.n > 0) run(backwardDataChunk, { input: dy, second: w, bias: null, out: dx, p });
}

/** dW: each chunk's sum over its images, then the chunks' sums added in chunk order (float32). */
export function oneDnnConv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, p: Conv2dParams): void {
  const size = p.cOut * p.cIn * p.kh * p.kw;
  if (p.n === 0) {
    dw.fill(0, 0, size);
    return;
  }
  const chunks = Math.ceil(p.n / imagesPerChunk(p));
  const slices = chunks === 1 ? dw : filterSlices.take(chunks * size);
  run(backwardWeightsChunk, { input: x, second: dy, bias: null, out: slices, p });
  if (chunks === 1) return;
  dw.set(slices.subarray(0, size));
  for (let c = 1; c < chunks; c++) for (let i = 0, j = c * size; i < size; i++, j++) dw[i] += slices[j];
}
