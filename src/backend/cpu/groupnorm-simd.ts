/**
 * A group norm slice's float64 arithmetic in WebAssembly SIMD, two float64 lanes at a time: the sum and the
 * sum of squared deviations going forward, and going backward each channel's sums of g and g * xhat and
 * the input gradient dx = r * (g * gamma - mean(g) - xhat * mean(g * xhat)) (groupnorm.ts says what they
 * are). In TypeScript these loops took about 200 of a micro-benchmark's 370 ms of group norm (SiLU the rest).
 *
 * Each sum keeps two partial sums, of the even and of the odd elements in order, added at the end (the two
 * lanes); the TypeScript functions below take the same sums in the same order and give the same bits
 * (test/backend/cpu-groupnorm-simd.test.ts), for slices the module does not take (a run of positions not a
 * multiple of four, a slice over SLICE_ELEMENTS) or runtimes without SIMD. The order is fixed by the slice
 * alone, so results do not depend on the thread count. dx is the same float64 expression as before, rounded
 * once to float32.
 */
import { END, F64, I32, I32_ADD, V128, countedLoop, functionBody, get, i32Const, instantiate, memarg, set, simd } from './wasm-bytes.js';

const [V128_LOAD, V128_STORE, I8X16_SHUFFLE, F64X2_SPLAT, F64X2_EXTRACT_LANE] = [0x00, 0x0b, 0x0d, 0x14, 0x21];
const [F32X4_DEMOTE_F64X2_ZERO, F64X2_PROMOTE_LOW_F32X4, F64X2_ADD, F64X2_SUB, F64X2_MUL] = [0x5e, 0x5f, 0xf0, 0xf1, 0xf2];
const [F64_ADD, F64_STORE] = [0xa0, 0x39];

/** The float64 pair of floats 0-1 (low) or 2-3 (high) of a v128 local holding four floats. */
const half = (v: number, high: boolean): number[] =>
  high ? [...get(v), ...get(v), ...simd(I8X16_SHUFFLE, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7), ...simd(F64X2_PROMOTE_LOW_F32X4)] : [...get(v), ...simd(F64X2_PROMOTE_LOW_F32X4)];
const lanesAdded = (acc: number): number[] => [...get(acc), ...simd(F64X2_EXTRACT_LANE, 0), ...get(acc), ...simd(F64X2_EXTRACT_LANE, 1), F64_ADD];
const step = (pointer: number): number[] => [...get(pointer), ...i32Const(16), I32_ADD, ...set(pointer)];

/** (xByte, groups) -> the sum of the floats; with `deviations` (xByte, groups, mu) -> the sum of (x - mu)^2. */
function sumBody(deviations: boolean): number[] {
  const [X, N] = [0, 1];
  const [MU, V, ACC, M] = deviations ? [2, 3, 4, 5] : [-1, 2, 3, -1];
  const term = (high: boolean): number[] =>
    deviations ? [...half(V, high), ...get(M), ...simd(F64X2_SUB), ...set(V + 3), ...get(V + 3), ...get(V + 3), ...simd(F64X2_MUL)] : half(V, high);
  const code = [...get(X), ...simd(V128_LOAD, ...memarg(0)), ...set(V)];
  for (const high of [false, true]) code.push(...get(ACC), ...term(high), ...simd(F64X2_ADD), ...set(ACC));
  code.push(...step(X));
  const setup = deviations ? [...get(MU), ...simd(F64X2_SPLAT), ...set(M)] : [];
  return functionBody([[deviations ? 4 : 2, V128]], [...setup, ...countedLoop(N, code), ...lanesAdded(ACC), END]);
}

/**
 * (gByte, xByte, groups, mu, r, outByte): out[0] = the sum of g, out[1] = the sum of g * ((x - mu) * r),
 * float64. Locals: g, x, the two accumulators, mu and r splatted, a pair of g (v128).
 */
function gradientSumsBody(): number[] {
  const [G, X, N, MU, R, OUT] = [0, 1, 2, 3, 4, 5];
  const [GV, XV, SUM_G, SUM_GX, M, RR, GH] = [6, 7, 8, 9, 10, 11, 12];
  const code = [...get(G), ...simd(V128_LOAD, ...memarg(0)), ...set(GV), ...get(X), ...simd(V128_LOAD, ...memarg(0)), ...set(XV)];
  for (const high of [false, true]) {
    code.push(...half(GV, high), ...set(GH));
    code.push(...get(SUM_G), ...get(GH), ...simd(F64X2_ADD), ...set(SUM_G));
    code.push(...get(SUM_GX), ...get(GH), ...half(XV, high), ...get(M), ...simd(F64X2_SUB), ...get(RR), ...simd(F64X2_MUL), ...simd(F64X2_MUL), ...simd(F64X2_ADD), ...set(SUM_GX));
  }
  code.push(...step(G), ...step(X));
  const setup = [...get(MU), ...simd(F64X2_SPLAT), ...set(M), ...get(R), ...simd(F64X2_SPLAT), ...set(RR)];
  const store = [...get(OUT), ...lanesAdded(SUM_G), F64_STORE, 3, 0, ...get(OUT), ...lanesAdded(SUM_GX), F64_STORE, 3, 8];
  return functionBody([[7, V128]], [...setup, ...countedLoop(N, code), ...store, END]);
}

/**
 * (gByte, xByte, dxByte, groups, mu, r, gamma, gMean, gXhatMean): dx = r * (g * gamma - gMean - ((x - mu)
 * * r) * gXhatMean) in float64, rounded to float32. Locals: g, x, then mu, r, gamma, gMean, gXhatMean
 * splatted (v128).
 */
function inputGradientBody(): number[] {
  const [G, X, DX, N, MU, R, GAMMA, GMEAN, GXMEAN] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [GV, XV, M, RR, GA, GM, GXM] = [9, 10, 11, 12, 13, 14, 15];
  const setup = [MU, R, GAMMA, GMEAN, GXMEAN].flatMap((param, i) => [...get(param), ...simd(F64X2_SPLAT), ...set(M + i)]);
  const pair = (high: boolean): number[] => [
    ...get(RR),
    ...half(GV, high), ...get(GA), ...simd(F64X2_MUL), ...get(GM), ...simd(F64X2_SUB),
    ...half(XV, high), ...get(M), ...simd(F64X2_SUB), ...get(RR), ...simd(F64X2_MUL), ...get(GXM), ...simd(F64X2_MUL),
    ...simd(F64X2_SUB), ...simd(F64X2_MUL), ...simd(F32X4_DEMOTE_F64X2_ZERO),
  ];
  const code = [...get(G), ...simd(V128_LOAD, ...memarg(0)), ...set(GV), ...get(X), ...simd(V128_LOAD, ...memarg(0)), ...set(XV)];
  code.push(...get(DX), ...pair(false), ...pair(true), ...simd(I8X16_SHUFFLE, 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23), ...simd(V128_STORE, ...memarg(0)));
  code.push(...step(G), ...step(X), ...step(DX));
  return functionBody([[7, V128]], [...setup, ...countedLoop(N, code), END]);
}

const module = instantiate([
  { name: 'sum', params: 2, results: [F64], body: sumBody(false) },
  { name: 'deviations', params: [I32, I32, F64], results: [F64], body: sumBody(true) },
  { name: 'gradientSums', params: [I32, I32, I32, F64, F64, I32], body: gradientSumsBody() },
  { name: 'inputGradient', params: [I32, I32, I32, I32, F64, F64, F64, F64, F64], body: inputGradientBody() },
]);

/** Floats of a slice the module takes at most: x, g and dx each get a block of the one 64 KiB page, the sums the last. */
const SLICE_ELEMENTS = 4096;
const [X_BYTE, G_BYTE, DX_BYTE, SUMS_BYTE] = [0, 4, 8, 12].map((k) => k * SLICE_ELEMENTS);

const kernels = module === null ? null : {
  sum: module.exports.sum as (xByte: number, groups: number) => number,
  deviations: module.exports.deviations as (xByte: number, groups: number, mu: number) => number,
  gradientSums: module.exports.gradientSums as (gByte: number, xByte: number, groups: number, mu: number, r: number, outByte: number) => void,
  inputGradient: module.exports.inputGradient as (gByte: number, xByte: number, dxByte: number, groups: number, mu: number, r: number, gamma: number, gMean: number, gXhatMean: number) => void,
  heap: new Float32Array(module.memory.buffer),
  sums: new Float64Array(module.memory.buffer, SUMS_BYTE, 2),
};

/** Whether the runtime has the module (else every slice goes through the TypeScript twins). */
export const groupNormSimd = kernels !== null;

/** Whether the module takes a slice of `channels` runs of hw positions. */
const inSimd = (count: number, hw: number): boolean => kernels !== null && hw % 4 === 0 && count <= SLICE_ELEMENTS;

/** The mean of x[start, start + count) and the sum of its squared deviations from it (float64). */
export function sliceMoments(x: Float32Array, start: number, count: number, hw: number): { mu: number; squares: number } {
  if (!kernels || !inSimd(count, hw)) return momentsInTypeScript(x, start, count);
  kernels.heap.set(x.subarray(start, start + count), X_BYTE / 4);
  const mu = kernels.sum(X_BYTE, count / 4) / count;
  return { mu, squares: kernels.deviations(X_BYTE, count / 4, mu) };
}

/** sliceMoments in TypeScript: the same sums in the same order (even and odd elements apart). */
export function momentsInTypeScript(x: Float32Array, start: number, count: number): { mu: number; squares: number } {
  const end = start + count;
  let even = 0;
  let odd = 0;
  let e = start;
  for (; e + 1 < end; e += 2) {
    even += x[e];
    odd += x[e + 1];
  }
  if (e < end) even += x[e];
  const mu = (even + odd) / count;
  even = 0;
  odd = 0;
  for (e = start; e + 1 < end; e += 2) {
    const d0 = x[e] - mu;
    const d1 = x[e + 1] - mu;
    even += d0 * d0;
    odd += d1 * d1;
  }
  if (e < end) even += (x[e] - mu) * (x[e] - mu);
  return { mu, squares: even + odd };
}

/** One slice's backward from the gradient at the norm's output: what groupnorm.ts's backwardSlices needs. */
export interface SliceBackward {
  x: Float32Array;
  /** The slice's channels * hw elements of g start at g[gStart]. */
  g: Float32Array;
  gStart: number;
  /** The slice's first element in x and dx. */
  start: number;
  channels: number;
  hw: number;
  mu: number;
  r: number;
  gamma: Float32Array;
  /** The slice's first channel (of gamma). */
  firstChannel: number;
  dx: Float32Array;
  /** Written per channel of the slice, from sumsOffset: the sums of g and of g * xhat over its positions. */
  gSums: Float64Array;
  gXhatSums: Float64Array;
  sumsOffset: number;
}

/** dx over the slice, and each channel's sums of g and g * xhat (see SliceBackward). */
export function sliceBackward(a: SliceBackward): void {
  const count = a.channels * a.hw;
  if (!kernels || !inSimd(count, a.hw)) {
    backwardInTypeScript(a);
    return;
  }
  const { channels, hw, gamma, firstChannel, mu, r } = a;
  kernels.heap.set(a.x.subarray(a.start, a.start + count), X_BYTE / 4);
  kernels.heap.set(a.g.subarray(a.gStart, a.gStart + count), G_BYTE / 4);
  const channelSums = (cg: number): [number, number] => {
    kernels.gradientSums(G_BYTE + 4 * cg * hw, X_BYTE + 4 * cg * hw, hw / 4, mu, r, SUMS_BYTE);
    return [kernels.sums[0], kernels.sums[1]];
  };
  const [gMean, gXhatMean] = gradientMeans(a, channelSums);
  for (let cg = 0; cg < channels; cg++) kernels.inputGradient(G_BYTE + 4 * cg * hw, X_BYTE + 4 * cg * hw, DX_BYTE + 4 * cg * hw, hw / 4, mu, r, gamma[firstChannel + cg], gMean, gXhatMean);
  a.dx.set(kernels.heap.subarray(DX_BYTE / 4, DX_BYTE / 4 + count), a.start);
}

/** Writes each channel's sums (channelSums) and returns the slice's mean(g * gamma) and mean(g * gamma * xhat). */
function gradientMeans(a: SliceBackward, channelSums: (cg: number) => [number, number]): [number, number] {
  let gSum = 0;
  let gXhatSum = 0;
  for (let cg = 0; cg < a.channels; cg++) {
    const [sum, xhatSum] = channelSums(cg);
    a.gSums[a.sumsOffset + cg] = sum;
    a.gXhatSums[a.sumsOffset + cg] = xhatSum;
    gSum += a.gamma[a.firstChannel + cg] * sum;
    gXhatSum += a.gamma[a.firstChannel + cg] * xhatSum;
  }
  const count = a.channels * a.hw;
  return [gSum / count, gXhatSum / count];
}

/** sliceBackward in TypeScript: the same sums in the same order (even and odd elements apart) and the same dx. */
export function backwardInTypeScript(a: SliceBackward): void {
  const { x, g, hw, mu, r } = a;
  const [gMean, gXhatMean] = gradientMeans(a, (cg) => {
    const [xBase, gBase] = [a.start + cg * hw, a.gStart + cg * hw];
    let g0 = 0;
    let g1 = 0;
    let gx0 = 0;
    let gx1 = 0;
    let e = 0;
    for (; e + 1 < hw; e += 2) {
      g0 += g[gBase + e];
      g1 += g[gBase + e + 1];
      gx0 += g[gBase + e] * ((x[xBase + e] - mu) * r);
      gx1 += g[gBase + e + 1] * ((x[xBase + e + 1] - mu) * r);
    }
    if (e < hw) {
      g0 += g[gBase + e];
      gx0 += g[gBase + e] * ((x[xBase + e] - mu) * r);
    }
    return [g0 + g1, gx0 + gx1];
  });
  for (let cg = 0; cg < a.channels; cg++) {
    const gammaC = a.gamma[a.firstChannel + cg];
    const base = a.start + cg * hw;
    const gBase = a.gStart + cg * hw;
    for (let e = 0; e < hw; e++) {
      const xhat = (x[base + e] - mu) * r;
      a.dx[base + e] = r * (g[gBase + e] * gammaC - gMean - xhat * gXhatMean);
    }
  }
}
