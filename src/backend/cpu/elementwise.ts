import type { BinaryOp, UnaryOp } from '../backend.js';
import { type ParallelTask, chunksFor, parallelFor, parallelTask } from './pool.js';
import { exp } from './exp.js';
import { mergeAxes } from './layout.js';
import { SILU_WORK, siluBackwardRange, siluRange } from './silu.js';
import { simdBinary, simdBinaryRows } from './simd-binary.js';
import { numel } from '../../base/shape.js';

/**
 * Ops whose elements each cost a transcendental function (2 to 60 ns in V8) rather than a nanosecond or
 * two: the ones worth splitting over threads at moderate sizes. SiLU is in WebAssembly SIMD (silu.ts).
 */
const TRANSCENDENTAL: ReadonlySet<UnaryOp> = new Set(['exp', 'log', 'rsqrt', 'sin', 'cos', 'tanh', 'sigmoid']);

/** An elementwise op's work in the pool's units, multiply-adds of about 0.6 ns. */
const elementWork = (op: UnaryOp, n: number): number => n * (op === 'silu' ? SILU_WORK : TRANSCENDENTAL.has(op) ? 24 : 2);

interface Unary {
  op: UnaryOp;
  x: Float32Array;
  /** The backward pass's incoming gradient; null going forward. */
  dy: Float32Array | null;
  /** y going forward, dx going backward. */
  out: Float32Array;
  n: number;
  /** Elements per chunk. */
  span: number;
}

/** Elements [0, n) in spans over the threads, if the op is costly enough to split. */
function overSpans(task: ParallelTask<Unary>, args: Omit<Unary, 'span'>): void {
  if (args.n === 0) return;
  const span = Math.ceil(args.n / chunksFor(elementWork(args.op, args.n)));
  parallelFor(task, { ...args, span }, Math.ceil(args.n / span));
}

const spanOf = (u: Unary, chunk: number): [number, number] => [chunk * u.span, Math.min(u.n, (chunk + 1) * u.span)];

export function unary(op: UnaryOp, x: Float32Array, y: Float32Array, n: number): void {
  overSpans(unarySpan, { op, x, dy: null, out: y, n });
}

const unarySpan = parallelTask('unary', (u: Unary, chunk: number) => unaryRange(u.op, u.x, u.out, ...spanOf(u, chunk)));

/** dx = dy * f'(x). */
export function unaryBackward(op: UnaryOp, x: Float32Array, dy: Float32Array, dx: Float32Array, n: number): void {
  overSpans(unaryBackwardSpan, { op, x, dy, out: dx, n });
}

const unaryBackwardSpan = parallelTask('unaryBackward', (u: Unary, chunk: number) => unaryBackwardRange(u.op, u.x, u.dy!, u.out, ...spanOf(u, chunk)));

/** y = f(x) on elements [start, end). */
export function unaryRange(op: UnaryOp, x: Float32Array, y: Float32Array, start: number, end: number): void {
  switch (op) {
    case 'neg': for (let i = start; i < end; i++) y[i] = -x[i]; break;
    case 'exp': for (let i = start; i < end; i++) y[i] = exp(x[i]); break;
    case 'log': for (let i = start; i < end; i++) y[i] = Math.log(x[i]); break;
    case 'sqrt': for (let i = start; i < end; i++) y[i] = Math.sqrt(x[i]); break;
    case 'rsqrt': for (let i = start; i < end; i++) y[i] = 1 / Math.sqrt(x[i]); break;
    case 'sin': for (let i = start; i < end; i++) y[i] = Math.sin(x[i]); break;
    case 'cos': for (let i = start; i < end; i++) y[i] = Math.cos(x[i]); break;
    case 'tanh': for (let i = start; i < end; i++) y[i] = Math.tanh(x[i]); break;
    case 'sigmoid': for (let i = start; i < end; i++) y[i] = 1 / (1 + exp(-x[i])); break;
    case 'silu': siluRange(x, y, start, end); break;
    case 'square': for (let i = start; i < end; i++) y[i] = x[i] * x[i]; break;
    case 'abs': for (let i = start; i < end; i++) y[i] = Math.abs(x[i]); break;
    case 'recip': for (let i = start; i < end; i++) y[i] = 1 / x[i]; break;
    case 'relu': for (let i = start; i < end; i++) y[i] = x[i] > 0 ? x[i] : 0; break;
    case 'sign': for (let i = start; i < end; i++) y[i] = Math.sign(x[i]); break;
  }
}

/** dx = dy * f'(x) on elements [start, end). */
export function unaryBackwardRange(op: UnaryOp, x: Float32Array, dy: Float32Array, dx: Float32Array, start: number, end: number): void {
  switch (op) {
    case 'neg': for (let i = start; i < end; i++) dx[i] = -dy[i]; break;
    case 'exp': for (let i = start; i < end; i++) dx[i] = dy[i] * exp(x[i]); break;
    case 'log': for (let i = start; i < end; i++) dx[i] = dy[i] / x[i]; break;
    case 'sqrt': for (let i = start; i < end; i++) dx[i] = dy[i] * 0.5 / Math.sqrt(x[i]); break;
    case 'rsqrt': for (let i = start; i < end; i++) dx[i] = dy[i] * -0.5 * Math.pow(x[i], -1.5); break;
    case 'sin': for (let i = start; i < end; i++) dx[i] = dy[i] * Math.cos(x[i]); break;
    case 'cos': for (let i = start; i < end; i++) dx[i] = -dy[i] * Math.sin(x[i]); break;
    case 'tanh': for (let i = start; i < end; i++) { const t = Math.tanh(x[i]); dx[i] = dy[i] * (1 - t * t); } break;
    case 'sigmoid': for (let i = start; i < end; i++) { const s = 1 / (1 + exp(-x[i])); dx[i] = dy[i] * s * (1 - s); } break;
    case 'silu': siluBackwardRange(x, dy, dx, start, end); break;
    case 'square': for (let i = start; i < end; i++) dx[i] = dy[i] * 2 * x[i]; break;
    case 'abs': for (let i = start; i < end; i++) dx[i] = dy[i] * Math.sign(x[i]); break;
    case 'recip': for (let i = start; i < end; i++) dx[i] = -dy[i] / (x[i] * x[i]); break;
    case 'relu': for (let i = start; i < end; i++) dx[i] = x[i] > 0 ? dy[i] : 0; break;
    case 'sign': for (let i = start; i < end; i++) dx[i] = 0; break;
  }
}

export function affine(x: Float32Array, y: Float32Array, n: number, scale: number, shift: number): void {
  for (let i = 0; i < n; i++) y[i] = x[i] * scale + shift;
}

export function powScalar(x: Float32Array, y: Float32Array, n: number, e: number): void {
  for (let i = 0; i < n; i++) y[i] = Math.pow(x[i], e);
}

type Row = (o: Float32Array, oi: number, a: Float32Array, ai: number, as: number, b: Float32Array, bi: number, bs: number, n: number) => void;

// One loop per op so the hot loop has no per-element dispatch.
const rows: Record<BinaryOp, Row> = {
  add: (o, oi, a, ai, as, b, bi, bs, n) => { for (let i = 0; i < n; i++, ai += as, bi += bs) o[oi + i] = a[ai] + b[bi]; },
  sub: (o, oi, a, ai, as, b, bi, bs, n) => { for (let i = 0; i < n; i++, ai += as, bi += bs) o[oi + i] = a[ai] - b[bi]; },
  mul: (o, oi, a, ai, as, b, bi, bs, n) => { for (let i = 0; i < n; i++, ai += as, bi += bs) o[oi + i] = a[ai] * b[bi]; },
  div: (o, oi, a, ai, as, b, bi, bs, n) => { for (let i = 0; i < n; i++, ai += as, bi += bs) o[oi + i] = a[ai] / b[bi]; },
};

/**
 * Broadcasting binary op: walks every output row (last axis, after merging contiguous axes) with the
 * operands' strides; two whole same-shape operands go through WebAssembly SIMD (simd-binary.ts, same bits).
 */
export function binary(op: BinaryOp, a: Float32Array, aStrides: readonly number[], b: Float32Array, bStrides: readonly number[], out: Float32Array, outShape: readonly number[]): void {
  const row = rows[op];
  const merged = mergeAxes(outShape, [aStrides, bStrides]);
  const shape = merged.shape;
  const [as, bs] = merged.strides;
  const nd = shape.length;
  if (nd === 0) {
    row(out, 0, a, 0, 0, b, 0, 0, 1);
    return;
  }
  // (below a few hundred elements the copies and the call cost more than they save)
  if (nd === 1 && as[0] === 1 && bs[0] === 1 && shape[0] >= 256 && simdBinary(op, a, b, out, shape[0])) return;
  if (nd === 2 && shape[0] * shape[1] >= 256) {
    // one operand a value per row of the other (add and mul commute, so either may be that one)
    const [count, length] = shape;
    const perRow = (s: number[], t: number[]): boolean => s[0] === length && s[1] === 1 && t[0] === 1 && t[1] === 0;
    if (perRow(as, bs) && simdBinaryRows(op, a, b, out, count, length)) return;
    if ((op === 'add' || op === 'mul') && perRow(bs, as) && simdBinaryRows(op, b, a, out, count, length)) return;
  }
  const inner = shape[nd - 1];
  const rowsCount = numel(outShape) / Math.max(inner, 1);
  const idx = new Array<number>(nd - 1).fill(0);
  let ai = 0;
  let bi = 0;
  for (let r = 0; r < rowsCount; r++) {
    row(out, r * inner, a, ai, as[nd - 1], b, bi, bs[nd - 1], inner);
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      ai += as[d];
      bi += bs[d];
      if (idx[d] < shape[d]) break;
      ai -= as[d] * shape[d];
      bi -= bs[d] * shape[d];
      idx[d] = 0;
    }
  }
}
