import type { DType, HostArray } from '../../base/dtype.js';
import { numel, stridesOf } from '../../base/shape.js';

/**
 * The same walk over fewer, longer axes: drops axes of size 1 and merges each axis into the one before it
 * wherever every stride array steps over it contiguously (stride[d] === stride[d + 1] * shape[d + 1]). The
 * elements are visited in the same order, so results keep their bits, while the innermost loop runs over
 * whole images instead of one row of 4 or 16 pixels (a same-shape add of the quickstart's [16, 16, 16, 16]
 * activations: 4,096 rows of 16 -> one of 65,536).
 */
export function mergeAxes(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  shape.forEach((size, d) => {
    if (size === 1) return;
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k][last] === s[d] * size)) {
      outShape[last] *= size;
      strides.forEach((s, k) => (outStrides[k][last] = s[d]));
      return;
    }
    outShape.push(size);
    strides.forEach((s, k) => outStrides[k].push(s[d]));
  });
  return { shape: outShape, strides: outStrides };
}

/** Sums or maxes x of inShape into outShape (same rank, 1 along reduced axes); float64 accumulation. */
export function reduce(kind: 'sum' | 'max', x: Float32Array, inShape: readonly number[], out: Float32Array, outShape: readonly number[]): void {
  const outStrides = stridesOf(outShape).map((s, d) => (outShape[d] === 1 ? 0 : s));
  const merged = mergeAxes(inShape, [stridesOf(inShape), outStrides]);
  const shape = merged.shape;
  const os = merged.strides[1];
  const nd = shape.length;
  const isSum = kind === 'sum';
  const outLength = numel(outShape);
  const acc = new Float64Array(outLength).fill(isSum ? 0 : -Infinity);
  const inner = nd === 0 ? 1 : shape[nd - 1];
  const innerStride = nd === 0 ? 0 : os[nd - 1];
  const rows = numel(inShape) / Math.max(inner, 1);
  const idx = new Array<number>(Math.max(nd - 1, 0)).fill(0);
  let o = 0;
  for (let r = 0; r < rows; r++) {
    const base = r * inner;
    if (isSum && innerStride === 0) {
      // The last axis is reduced: its run adds onto one entry (in a local, the same sums in the same order).
      let sum = acc[o];
      for (let j = 0; j < inner; j++) sum += x[base + j];
      acc[o] = sum;
    } else if (isSum) for (let j = 0, oj = o; j < inner; j++, oj += innerStride) acc[oj] += x[base + j];
    else for (let j = 0, oj = o; j < inner; j++, oj += innerStride) if (x[base + j] > acc[oj]) acc[oj] = x[base + j];
    for (let d = nd - 2; d >= 0; d--) {
      idx[d]++;
      o += os[d];
      if (idx[d] < shape[d]) break;
      o -= os[d] * shape[d];
      idx[d] = 0;
    }
  }
  for (let i = 0; i < outLength; i++) out[i] = acc[i];
}

export function permute(x: HostArray, inShape: readonly number[], perm: readonly number[], out: HostArray): void {
  const nd = inShape.length;
  const inStrides = stridesOf(inShape);
  const outShape = perm.map((p) => inShape[p]);
  const stepIn = perm.map((p) => inStrides[p]);
  const total = x.length;
  const idx = new Array<number>(nd).fill(0);
  let src = 0;
  for (let o = 0; o < total; o++) {
    out[o] = x[src];
    for (let d = nd - 1; d >= 0; d--) {
      idx[d]++;
      src += stepIn[d];
      if (idx[d] < outShape[d]) break;
      src -= stepIn[d] * outShape[d];
      idx[d] = 0;
    }
  }
}

export function copyRows(src: HostArray, srcOffset: number, srcStride: number, dst: HostArray, dstOffset: number, dstStride: number, rows: number, rowLength: number): void {
  for (let r = 0; r < rows; r++) {
    const s = srcOffset + r * srcStride;
    dst.set(src.subarray(s, s + rowLength), dstOffset + r * dstStride);
  }
}

export function gatherRows(src: HostArray, index: Int32Array, out: HostArray, rowLength: number): void {
  for (let i = 0; i < index.length; i++) {
    const s = index[i] * rowLength;
    out.set(src.subarray(s, s + rowLength), i * rowLength);
  }
}

export function scatterAddRows(src: Float32Array, index: Int32Array, out: Float32Array, rowLength: number): void {
  for (let i = 0; i < index.length; i++) {
    const d = index[i] * rowLength;
    const s = i * rowLength;
    for (let j = 0; j < rowLength; j++) out[d + j] += src[s + j];
  }
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float32 -> bfloat16 bits, round to nearest even (NaN stays NaN). */
export function floatToBf16(v: number): number {
  f32Scratch[0] = v;
  const u = u32Scratch[0];
  if ((u & 0x7f800000) === 0x7f800000 && (u & 0x7fffff) !== 0) return (u >>> 16) | 0x40;
  return ((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bf16ToFloat(bits: number): number {
  u32Scratch[0] = bits << 16;
  return f32Scratch[0];
}

/** float32 -> IEEE half bits, round to nearest even. */
export function floatToHalf(v: number): number {
  f32Scratch[0] = v;
  const u = u32Scratch[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    let r = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    if (rem > half || (rem === half && (r & 1))) r++;
    return sign | r;
  }
  let r = mant >>> 13;
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (r & 1))) {
    r++;
    if (r === 0x400) {
      r = 0;
      e++;
      if (e >= 0x1f) return sign | 0x7c00;
    }
  }
  return sign | (e << 10) | r;
}

export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return sign * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : sign * Infinity;
  return sign * (1 + m / 1024) * 2 ** (e - 15);
}

function toNumber(dtype: DType): (v: number) => number {
  if (dtype === 'bfloat16') return bf16ToFloat;
  if (dtype === 'float16') return halfToFloat;
  return (v) => v;
}

function fromNumber(dtype: DType): (v: number) => number {
  switch (dtype) {
    case 'bfloat16': return floatToBf16;
    case 'float16': return floatToHalf;
    case 'int32': return (v) => Math.trunc(v);
    case 'uint8': return (v) => Math.min(255, Math.max(0, Math.round(v)));
    default: return (v) => v;
  }
}

export function cast(x: HostArray, xDtype: DType, out: HostArray, outDtype: DType, n: number): void {
  const read = toNumber(xDtype);
  const write = fromNumber(outDtype);
  for (let i = 0; i < n; i++) out[i] = write(read(x[i]));
}
