/**
 * EDM's depthwise FIR resampling by 2 (see ResampleParams). The 2-D filter is the outer product of the
 * taps, so each plane is filtered along its rows, then along its columns, with a 1-D filter:
 *   decimate (conv2d, stride 2):           out[o] = sum_t f[t] * in[2o - pad + t]
 *   expand (conv_transpose2d, stride 2):   out[2i - pad + t] += f[t] * in[i]
 * Indices outside the input are zero padding; outputs outside the output are cropped. The two are each
 * other's adjoints, so `down`'s backward is an expand and `up`'s backward a decimate, with the same scale.
 */
import type { ResampleParams } from '../backend.js';
import { chunksFor, parallelFor, parallelTask } from './pool.js';
import { float64Scratch } from './scratch.js';

type Direction = 'decimate' | 'expand';

const rowFiltered = float64Scratch();

export function resample(x: Float32Array, y: Float32Array, p: ResampleParams): void {
  const direction: Direction = p.mode === 'down' ? 'decimate' : 'expand';
  filterPlanes(direction, x, p.h, p.w, y, p.hOut, p.wOut, p);
}

export function resampleBackward(dy: Float32Array, dx: Float32Array, p: ResampleParams): void {
  const direction: Direction = p.mode === 'down' ? 'expand' : 'decimate';
  filterPlanes(direction, dy, p.hOut, p.wOut, dx, p.h, p.w, p);
}

interface Planes {
  direction: Direction;
  src: Float32Array;
  inH: number;
  inW: number;
  dst: Float32Array;
  outH: number;
  outW: number;
  p: ResampleParams;
  /** Planes per chunk. */
  span: number;
}

/**
 * Filters each of the n*c planes of src [inH, inW] into dst [outH, outW] with the normalised separable
 * filter, whole planes per chunk over the threads (pool.ts): a plane's numbers do not depend on who runs it.
 */
function filterPlanes(direction: Direction, src: Float32Array, inH: number, inW: number, dst: Float32Array, outH: number, outW: number, p: ResampleParams): void {
  const planes = p.n * p.c;
  if (planes === 0) return;
  // In the pool's units: with its index checks, a tap of the 1-D filters cost about eight multiply-adds
  // (0.35 ms for a 2-tap decimation of 256 planes of 16x16).
  const work = 8 * planes * (inH * outW + outW * outH) * p.taps.length;
  const span = Math.ceil(planes / chunksFor(work));
  parallelFor(planeRange, { direction, src, inH, inW, dst, outH, outW, p, span }, Math.ceil(planes / span));
}

const planeRange = parallelTask('resample', ({ direction, src, inH, inW, dst, outH, outW, p, span }: Planes, chunk: number) => {
  const tapSum = p.taps.reduce((s, t) => s + t, 0);
  // Transposed convolution spreads each input over 4 outputs, so `up` carries the gain 4 that keeps the mean.
  const scale = (p.mode === 'up' ? 4 : 1) / (tapSum * tapSum);
  const rows = rowFiltered.take(inH * outW);
  const pairs = p.taps.length === 2 && p.pad === 0 && (direction === 'decimate' ? inH === 2 * outH && inW === 2 * outW : outH === 2 * inH && outW === 2 * inW);
  for (let plane = chunk * span; plane < Math.min(p.n * p.c, (chunk + 1) * span); plane++) {
    const inStart = plane * inH * inW;
    const outStart = plane * outH * outW;
    if (pairs) {
      filterPlaneByPairs(direction, src, inStart, inH, inW, rows, dst, outStart, outH, outW, p.taps[0], p.taps[1], scale);
      continue;
    }
    for (let r = 0; r < inH; r++) filter1d(direction, src, inStart + r * inW, 1, inW, rows, r * outW, 1, outW, p.taps, p.pad, 1);
    for (let col = 0; col < outW; col++) filter1d(direction, rows, col, outW, inH, dst, outStart + col, outW, outH, p.taps, p.pad, scale);
  }
});

/**
 * filter1d over a whole plane, rows then columns, for EDM's default filter: two taps, no padding, sizes
 * halved or doubled exactly. Each output then reads two inputs (decimate) or one (expand) at fixed places,
 * and the loops need neither bounds checks nor a call per line: the same sums (from 0, tap by tap) in the
 * same order, so the same bits, at a third of the time.
 */
function filterPlaneByPairs(
  direction: Direction, src: Float32Array, inStart: number, inH: number, inW: number, rows: Float64Array,
  dst: Float32Array, outStart: number, outH: number, outW: number, f0: number, f1: number, scale: number,
): void {
  if (direction === 'decimate') {
    for (let r = 0; r < inH; r++) {
      const from = inStart + r * inW;
      const to = r * outW;
      for (let o = 0; o < outW; o++) {
        let sum = 0;
        sum += f0 * src[from + 2 * o];
        sum += f1 * src[from + 2 * o + 1];
        rows[to + o] = sum;
      }
    }
    for (let o = 0; o < outH; o++) {
      const even = 2 * o * outW;
      const to = outStart + o * outW;
      for (let col = 0; col < outW; col++) {
        let sum = 0;
        sum += f0 * rows[even + col];
        sum += f1 * rows[even + outW + col];
        dst[to + col] = sum * scale;
      }
    }
    return;
  }
  for (let r = 0; r < inH; r++) {
    const from = inStart + r * inW;
    const to = r * outW;
    for (let i = 0; i < inW; i++) {
      let even = 0;
      even += f0 * src[from + i];
      let odd = 0;
      odd += f1 * src[from + i];
      rows[to + 2 * i] = even;
      rows[to + 2 * i + 1] = odd;
    }
  }
  for (let i = 0; i < inH; i++) {
    const from = i * outW;
    const toEven = outStart + 2 * i * outW;
    for (let col = 0; col < outW; col++) {
      let even = 0;
      even += f0 * rows[from + col];
      let odd = 0;
      odd += f1 * rows[from + col];
      dst[toEven + col] = even * scale;
      dst[toEven + outW + col] = odd * scale;
    }
  }
}

/** One line: in[i] at src[srcStart + i*srcStep] for i < inLen, out[o] at dst[dstStart + o*dstStep] for o < outLen, all overwritten. */
function filter1d(
  direction: Direction,
  src: Float32Array | Float64Array, srcStart: number, srcStep: number, inLen: number,
  dst: Float32Array | Float64Array, dstStart: number, dstStep: number, outLen: number,
  taps: readonly number[], pad: number, scale: number,
): void {
  const k = taps.length;
  for (let o = 0; o < outLen; o++) {
    let sum = 0;
    if (direction === 'decimate') {
      for (let t = 0, i = 2 * o - pad; t < k; t++, i++) if (i >= 0 && i < inLen) sum += taps[t] * src[srcStart + i * srcStep];
    } else {
      // Inputs reaching o are those with 2i - pad + t = o: taps of the parity of o + pad, i = (o + pad - t) / 2.
      for (let t = (o + pad) & 1; t < k; t += 2) {
        const i = (o + pad - t) / 2;
        if (i >= 0 && i < inLen) sum += taps[t] * src[srcStart + i * srcStep];
      }
    }
    dst[dstStart + o * dstStep] = sum * scale;
  }
}
