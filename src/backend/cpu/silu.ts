/**
 * SiLU (x * sigmoid(x)) and its backward in float32 arithmetic, four lanes at a time in WebAssembly SIMD.
 * In plain TypeScript SiLU cost about 7 ns an element (its float64 exp, exp.ts, is a chain of dependent
 * scalar operations), 13% of a quickstart training step's CPU time; four float32 lanes per instruction do
 * it in well under 1 ns. The TypeScript functions below compute the same float32 operations in the same
 * order (Math.fround after each), so both paths give the same bits (test/backend/cpu-silu.test.ts), and they
 * run where the runtime has no WebAssembly SIMD.
 *
 * sigmoid(v) from e = e^-|v|, which never overflows: 1 / (1 + e) for v >= 0, e / (1 + e) below. e^z for
 * z = -|v| is Cephes' expf: z = k ln 2 + r with k = nearest(z log2 e) (ln 2 in two parts, the first exact
 * times k), e^r by a degree-7 polynomial (about 1 float32 ulp), times 2^k by way of 2^(k + 64) * 2^-64,
 * exact down to the subnormals; e is 0 where |v| > 103, beyond float32's smallest subnormal. Forward, about
 * 1 float32 ulp for v > -87; left of it sigmoid is a subnormal and SiLU within 2e-43 of float64's (-0 past
 * -103). Backward, within 2e-6 of |dy| (1 - s loses digits as s nears 1, as in PyTorch's float32 kernel).
 *
 * The module also takes a group norm's slice through its per-channel affine map (float64 lanes, rounded
 * to float32 as TypeScript does) on the way into SiLU, so that the slice is copied in and out once.
 */
import { END, F64, I32, I32_ADD, V128, countedLoop, functionBody, get, i32Const, instantiate, memarg, set, simd } from './wasm-bytes.js';

const f = Math.fround;
const LOG2E = f(1.4426950408889634);
/** ln 2's high part, 0.693359375 (9 significant bits: k * LN2_HI is exact), and the rest. */
const LN2_HI = 0.693359375;
const LN2_LO = f(-2.12194440e-4);
/** Cephes expf's coefficients: e^r ~ 1 + r + r^2 (P0 r^5 + ... + P5). */
const P = [1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1].map(f);
/** Beyond this |v|, e^-|v| is below float32's smallest subnormal (e^-103.28): it is taken as 0. */
const LIMIT = 103;
const TWO_TO_MINUS_64 = 2 ** -64;

/** An element's cost in the thread pool's units (pool.ts: multiply-adds of about 0.6 ns), forward or backward: about 2.5 ns. */
export const SILU_WORK = 4;

/** x rounded to the nearest integer, ties to even (WebAssembly's nearest). */
function nearest(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** sigmoid(v) of a float32 v, in float32 operations. */
export function sigmoid32(v: number): number {
  const a = Math.abs(v);
  const z = -Math.min(a, LIMIT);
  const k = nearest(f(z * LOG2E));
  const r = f(f(z - f(k * LN2_HI)) - f(k * LN2_LO));
  let p = P[0];
  for (let j = 1; j < P.length; j++) p = f(f(p * r) + P[j]);
  const y = f(f(f(p * f(r * r)) + r) + 1);
  const e = a > LIMIT ? 0 : f(f(y * 2 ** (k + 64)) * TWO_TO_MINUS_64);
  return f((v >= 0 ? 1 : e) / f(1 + e));
}

/** silu(v) of a float32 v. */
export const silu32 = (v: number): number => f(v * sigmoid32(v));

/** dy * silu'(v) = dy * s * (1 + v * (1 - s)) with s = sigmoid(v). */
export function siluGrad32(v: number, dy: number): number {
  const s = sigmoid32(v);
  return f(dy * f(s * f(1 + f(v * f(1 - s)))));
}

// WebAssembly SIMD opcodes (after the 0xfd prefix).
const [V128_LOAD, V128_STORE, V128_CONST, V128_ANDNOT, V128_BITSELECT] = [0x00, 0x0b, 0x0c, 0x4f, 0x52];
const [F32X4_GT, F32X4_GE, F32X4_NEAREST, F32X4_ABS, F32X4_NEG, F32X4_ADD, F32X4_SUB, F32X4_MUL, F32X4_DIV, F32X4_PMIN] = [0x44, 0x46, 0x6a, 0xe0, 0xe1, 0xe4, 0xe5, 0xe6, 0xe7, 0xea];
const [I32X4_SHL, I32X4_SUB] = [0xab, 0xb1];
/** 1.5 * 2^23: an integer k in (-2^22, 2^22) added to it is exact and lands in the low bits, which are MAGIC_BITS + k. */
const [MAGIC, MAGIC_BITS] = [12582912, 0x4b400000];

const f32x4 = (v: number): number[] => simd(V128_CONST, ...new Uint8Array(Float32Array.of(v, v, v, v).buffer));
const i32x4 = (v: number): number[] => simd(V128_CONST, ...new Uint8Array(Int32Array.of(v, v, v, v).buffer));

/**
 * A function over `groups` groups of four floats: 'forward' (xByte, yByte, groups): y = silu(x);
 * 'backward' (xByte, dyByte, dxByte, groups): dx = siluGrad(x, dy). Locals after the parameters: v, |v|,
 * z, k, r, e, s (v128). The pointers and the count are the parameters themselves, stepped in the loop.
 */
function body(kind: 'forward' | 'backward'): number[] {
  const forward = kind === 'forward';
  const params = forward ? 3 : 4;
  const [X, N] = [0, params - 1];
  const [V, A, Z, K, R, E, S] = [0, 1, 2, 3, 4, 5, 6].map((i) => params + i);
  const op = (o: number): number[] => simd(o);
  // s = sigmoid(v), as sigmoid32 computes it, left on the stack.
  const sigmoid = [
    ...get(V), ...op(F32X4_ABS), ...set(A),
    // pmin (LIMIT < a ? LIMIT : a) is one instruction where min's NaN rules cost several: the same
    // results here (a NaN a gives a NaN either way, and so does Math.min above)
    ...get(A), ...f32x4(LIMIT), ...op(F32X4_PMIN), ...op(F32X4_NEG), ...set(Z),
    ...get(Z), ...f32x4(LOG2E), ...op(F32X4_MUL), ...op(F32X4_NEAREST), ...set(K),
    ...get(Z), ...get(K), ...f32x4(LN2_HI), ...op(F32X4_MUL), ...op(F32X4_SUB), ...get(K), ...f32x4(LN2_LO), ...op(F32X4_MUL), ...op(F32X4_SUB), ...set(R),
    ...f32x4(P[0]),
    ...P.slice(1).flatMap((c) => [...get(R), ...op(F32X4_MUL), ...f32x4(c), ...op(F32X4_ADD)]),
    ...get(R), ...get(R), ...op(F32X4_MUL), ...op(F32X4_MUL), ...get(R), ...op(F32X4_ADD), ...f32x4(1), ...op(F32X4_ADD),
    // times 2^(k + 64) (its bits: (k + 64 + 127) << 23, k an integer in [-149, 0] taken out of k + MAGIC's
    // bits, cheaper than a saturating conversion), then 2^-64
    ...get(K), ...f32x4(MAGIC), ...op(F32X4_ADD), ...i32x4(MAGIC_BITS - (64 + 127)), ...op(I32X4_SUB), ...i32Const(23), ...op(I32X4_SHL), ...op(F32X4_MUL),
    ...f32x4(TWO_TO_MINUS_64), ...op(F32X4_MUL),
    ...get(A), ...f32x4(LIMIT), ...op(F32X4_GT), ...op(V128_ANDNOT), ...set(E),
    ...f32x4(1), ...get(E), ...get(V), ...f32x4(0), ...op(F32X4_GE), ...op(V128_BITSELECT),
    ...f32x4(1), ...get(E), ...op(F32X4_ADD), ...op(F32X4_DIV),
  ];
  const code = [...get(X), ...simd(V128_LOAD, ...memarg(0)), ...set(V)];
  if (forward) code.push(...get(1), ...sigmoid, ...get(V), ...op(F32X4_MUL), ...simd(V128_STORE, ...memarg(0)));
  else {
    code.push(...sigmoid, ...set(S));
    code.push(...get(2), ...get(1), ...simd(V128_LOAD, ...memarg(0)), ...get(S), ...f32x4(1), ...get(V), ...f32x4(1), ...get(S), ...op(F32X4_SUB));
    code.push(...op(F32X4_MUL), ...op(F32X4_ADD), ...op(F32X4_MUL), ...op(F32X4_MUL), ...simd(V128_STORE, ...memarg(0)));
  }
  for (let p = 0; p < params - 1; p++) code.push(...get(p), ...i32Const(16), I32_ADD, ...set(p));
  return functionBody([[7, V128]], [...countedLoop(N, code), END]);
}

const [F64X2_SPLAT, I8X16_SHUFFLE, F32X4_DEMOTE_F64X2_ZERO, F64X2_PROMOTE_LOW_F32X4, F64X2_ADD, F64X2_MUL] = [0x14, 0x0d, 0x5e, 0x5f, 0xf0, 0xf2];

/**
 * (xByte, outByte, groups, scale, shift): out = x * scale + shift over `groups` groups of four floats, in
 * float64 (two lanes) rounded to float32 as TypeScript computes it. Locals: x's four floats, the scale
 * and the shift splatted (v128).
 */
function affineBody(): number[] {
  const [X, OUT, N, SCALE, SHIFT, V, S, T] = [0, 1, 2, 3, 4, 5, 6, 7];
  const half = [...simd(F64X2_PROMOTE_LOW_F32X4), ...get(S), ...simd(F64X2_MUL), ...get(T), ...simd(F64X2_ADD), ...simd(F32X4_DEMOTE_F64X2_ZERO)];
  const code = [...get(SCALE), ...simd(F64X2_SPLAT), ...set(S), ...get(SHIFT), ...simd(F64X2_SPLAT), ...set(T)];
  const group = [...get(OUT), ...get(X), ...simd(V128_LOAD, ...memarg(0)), ...set(V), ...get(V), ...half];
  // lanes 2 and 3 moved down for the second half, then the two halves' low lanes put together
  group.push(...get(V), ...get(V), ...simd(I8X16_SHUFFLE, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7), ...half);
  group.push(...simd(I8X16_SHUFFLE, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), ...simd(V128_STORE, ...memarg(0)));
  for (const p of [X, OUT]) group.push(...get(p), ...i32Const(16), I32_ADD, ...set(p));
  return functionBody([[3, V128]], [...code, ...countedLoop(N, group), END]);
}

const module = instantiate([
  { name: 'forward', params: 3, body: body('forward') },
  { name: 'backward', params: 4, body: body('backward') },
  { name: 'affine', params: [I32, I32, I32, F64, F64], body: affineBody() },
]);
/** The module's functions and its memory as floats; null where the runtime has no WebAssembly SIMD. */
const kernels = module === null ? null : {
  forward: module.exports.forward as (xByte: number, yByte: number, groups: number) => void,
  backward: module.exports.backward as (xByte: number, dyByte: number, dxByte: number, groups: number) => void,
  affine: module.exports.affine as (xByte: number, outByte: number, groups: number, scale: number, shift: number) => void,
  heap: new Float32Array(module.memory.buffer),
};
/** Elements per pass through the module's memory (16 KiB): forward uses one block in place, backward two (x, overwritten by dx, and dy) of the one 64 KiB page. */
const BLOCK_ELEMENTS = 4096;
/** Whether siluRange and siluBackwardRange run in WebAssembly SIMD (else in the TypeScript functions above). */
export const siluSimd = kernels !== null;

/** y[i] = silu(x[i]) for i in [start, end) (x and y may be the same array). */
export function siluRange(x: Float32Array, y: Float32Array, start: number, end: number): void {
  if (kernels === null) {
    for (let i = start; i < end; i++) y[i] = silu32(x[i]);
    return;
  }
  const { heap, forward } = kernels;
  for (let from = start; from < end; from += BLOCK_ELEMENTS) {
    const n = Math.min(BLOCK_ELEMENTS, end - from);
    heap.set(x.subarray(from, from + n), 0);
    forward(0, 0, Math.ceil(n / 4));
    y.set(heap.subarray(0, n), from);
  }
}

/** dx[i] = dy[i] * silu'(x[i]) for i in [start, end). */
export function siluBackwardRange(x: Float32Array, dy: Float32Array, dx: Float32Array, start: number, end: number): void {
  if (kernels === null) {
    for (let i = start; i < end; i++) dx[i] = siluGrad32(x[i], dy[i]);
    return;
  }
  const { heap, backward } = kernels;
  for (let from = start; from < end; from += BLOCK_ELEMENTS) {
    const n = Math.min(BLOCK_ELEMENTS, end - from);
    heap.set(x.subarray(from, from + n), 0);
    heap.set(dy.subarray(from, from + n), BLOCK_ELEMENTS);
    backward(0, 4 * BLOCK_ELEMENTS, 0, Math.ceil(n / 4));
    dx.set(heap.subarray(0, n), from);
  }
}

/**
 * A group norm's slice, `channels` runs of hw elements from x[start], each taken to x * scales[c] +
 * shifts[c] (float64, rounded to float32) in the module's memory: the runs must be whole groups of four
 * (hw % 4 === 0) and the slice fit one block. Returns the module's kernels, or null, doing nothing, otherwise.
 */
function affineSlice(x: Float32Array, start: number, channels: number, hw: number, scales: Float64Array, shifts: Float64Array): typeof kernels {
  const count = channels * hw;
  if (kernels === null || hw % 4 !== 0 || count > BLOCK_ELEMENTS) return null;
  kernels.heap.set(x.subarray(start, start + count), 0);
  for (let c = 0; c < channels; c++) kernels.affine(4 * c * hw, 4 * c * hw, hw / 4, scales[c], shifts[c]);
  return kernels;
}

/**
 * y[start..) = the slice's affine map (see affineSlice), then SiLU if `silu`: one copy in and one out.
 * False, doing nothing, where affineSlice cannot run.
 */
export function affineSiluSlice(x: Float32Array, y: Float32Array, start: number, channels: number, hw: number, scales: Float64Array, shifts: Float64Array, silu: boolean): boolean {
  const k = affineSlice(x, start, channels, hw, scales, shifts);
  if (k === null) return false;
  const count = channels * hw;
  if (silu) k.forward(0, 0, count / 4);
  y.set(k.heap.subarray(0, count), start);
  return true;
}

/**
 * The gradient at the affine map's output of silu(affine(x)) given dy (the slice at `start` of both):
 * returned as the first channels * hw elements of the module's memory, valid until the next call into
 * this module; null, doing nothing, where affineSlice cannot run.
 */
export function affineSiluSliceBackward(x: Float32Array, dy: Float32Array, start: number, channels: number, hw: number, scales: Float64Array, shifts: Float64Array): Float32Array | null {
  const k = affineSlice(x, start, channels, hw, scales, shifts);
  if (k === null) return null;
  const count = channels * hw;
  k.heap.set(dy.subarray(start, start + count), BLOCK_ELEMENTS);
  k.backward(0, 4 * BLOCK_ELEMENTS, 0, count / 4);
  return k.heap;
}
