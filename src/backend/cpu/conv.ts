/**
 * 2-D convolution (groups = 1, NCHW, weight [cOut, cIn, kh, kw]) as one matrix product per image over its
 * column matrix (see im2col.ts): y[n] = W @ cols(x[n]), with W viewed as [cOut, cIn*kh*kw]. A 1x1 kernel
 * with stride 1 and no padding needs no column matrix: the image itself, [cIn, h*w], is it.
 *
 * With stride 1 (and the SIMD kernel on), no column matrix is made at all: the product reads it in place
 * from the zero-padded image (gemmGatheredB going forward, the same sums in the same order as through the
 * matrix; gemmGatheredA for the filter gradient, over all the images' positions in one product); at 16
 * channels, packing it had cost more than the product. Going forward, a thread packs the weights once for
 * a group of images. Otherwise the column matrix goes straight into the matrix product's packed panels
 * (packColumns) wherever the product runs on one thread. The data gradient of a stride-1 convolution with padding at most the
 * kernel size less one on each axis is itself such a convolution, of dy with the flipped, transposed filter and padding
 * k - 1 - pad on each axis (below), so it costs what the forward pass does rather than a column matrix of the input's
 * gradient and its scatter (col2im); each entry is then one float32 dot product (matmul.ts).
 *
 * Threads (pool.ts): the forward and data-gradient passes give each thread whole images; the filter
 * gradient, a sum over images, gives each thread whole columns of dW (rows of the column matrix), each
 * summed over the images in order, so every entry is the same sum whatever the thread count. Speed of a
 * 3x3 convolution of 16 images, 16 -> 16 channels, one core of a 2-core Xeon, forward / data gradient /
 * filter gradient: at 16x16 13 / 15 / 12 GMAC/s, at 8x8 11 / 12 / 11, at 4x4 6.6 / 6.6 / 8 (7.3 / 7.6 /
 * 6.9, 5.5 / 5.7 / 4.6 and 1.8 / 1.8 / 2.3 through float64 lanes and packed column matrices).
 */
import type { Conv2dParams } from '../backend.js';
import { type ImageOperand, NR, type OutputGrid, type StridedMatrix, gemm, gemmGatheredA, gemmGatheredB, gemmPackedB } from './matmul.js';
import { col2imAdd, im2col, packColumns } from './im2col.js';
import { chunksFor, forEachUnit, parallelFor, parallelTask, threadsFor } from './pool.js';
import { float32Scratch } from './scratch.js';

const columns = float32Scratch();
const flippedWeights = float32Scratch();

const isPointwise = (p: Conv2dParams): boolean => p.kh === 1 && p.kw === 1 && p.stride === 1 && p.padH === 0 && p.padW === 0;

/** Rows of the column matrix. */
const patchSize = (p: Conv2dParams): number => p.cIn * p.kh * p.kw;

/** Multiply-adds of each of the three passes. */
const work = (p: Conv2dParams): number => p.n * p.cOut * patchSize(p) * p.hOut * p.wOut;

/**
 * Rows [firstRow, firstRow + rows) of the column matrix of image `i`: x itself for a pointwise conv,
 * else written into scratch.
 */
function columnsOf(x: Float32Array, i: number, p: Conv2dParams, firstRow = 0, rows = patchSize(p)): StridedMatrix {
  const imageOffset = i * p.cIn * p.h * p.w;
  const ld = p.hOut * p.wOut;
  if (isPointwise(p)) return { data: x, offset: imageOffset + firstRow * ld, ld };
  const cols = columns.take(rows * ld);
  im2col(x, imageOffset, p, cols, firstRow, rows);
  return { data: cols, offset: 0, ld };
}

interface Forward {
  x: Float32Array;
  w: Float32Array;
  bias: Float32Array | null;
  y: Float32Array;
  p: Conv2dParams;
  /** Images per chunk. */
  groupSize: number;
}

export function conv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, p: Conv2dParams): void {
  forward({ x, w, bias, y, p });
}

/** The forward pass in groups of images, a group per chunk: a thread packs the weights once per group. */
function forward(args: Omit<Forward, 'groupSize'>): void {
  const groupSize = Math.ceil(args.p.n / chunksFor(work(args.p)));
  forEachUnit(forwardImages, { ...args, groupSize }, Math.ceil(args.p.n / groupSize), work(args.p));
}

const forwardImages = parallelTask('conv2d', ({ x, w, bias, y, p, groupSize }: Forward, group: number) => {
  const k = patchSize(p);
  const outSize = p.hOut * p.wOut;
  const first = group * groupSize;
  const images = Array.from({ length: Math.min(groupSize, p.n - first) }, (_, g) => first + g);
  const outs = images.map((i) => ({ data: y, offset: i * p.cOut * outSize, ld: outSize }));
  const weight = { data: w, offset: 0, ld: k, trans: false };
  const xOffset = (i: number): number => i * p.cIn * p.h * p.w;
  const gathered = !isPointwise(p) && chunksFor(p.cOut * outSize * k) === 1;
  if (gathered && p.stride === 1 && gemmGatheredB(p.cOut, k, 1, weight, images.map((i) => paddedImage(x, xOffset(i), p)), outputGrid(p), bias, outs)) return;
  // The bias goes in first, so the product adds onto it (beta = 1) with a single rounding.
  if (bias) for (const { offset } of outs) for (let co = 0; co < p.cOut; co++) y.fill(bias[co], offset + co * outSize, offset + (co + 1) * outSize);
  const beta = bias ? 1 : 0;
  if (gathered) {
    images.forEach((i, g) => gemmPackedB(p.cOut, outSize, k, 1, weight, (panels, offset) => packColumns(x, xOffset(i), p, panels, offset, true), beta, outs[g]));
    return;
  }
  images.forEach((i, g) => gemm(p.cOut, outSize, k, 1, weight, { ...columnsOf(x, i, p), trans: false }, beta, outs[g]));
});

/**
 * The output grid of a stride-1 convolution read from its padded image (gemmGatheredB): output (oy, ox)
 * reads padded pixel (oy + ky, ox + kx) of each channel, so NR outputs of one row read NR neighbouring
 * pixels. Where the output rows are whole tiles (wOut a multiple of NR), tile t is outputs NR*t.. of one
 * row. Otherwise the tiles run over the padded image's rows, wOut outputs and then padW * 2 + 1 - kw
 * positions that are not outputs: at 4x4 and 8x8, 16 of 24 and 64 of 80 lanes are outputs, where a column
 * matrix was packed lane by lane before.
 */
function outputGrid(p: Conv2dParams): OutputGrid {
  const paddedW = p.w + 2 * p.padW;
  const positions = p.hOut * p.wOut;
  if (p.wOut % NR === 0) {
    const start = Int32Array.from({ length: positions / NR }, (_, t) => Math.floor((NR * t) / p.wOut) * paddedW + ((NR * t) % p.wOut));
    return { start, rows: 1, rowLength: positions, rowStride: 0 };
  }
  const start = Int32Array.from({ length: Math.ceil(((p.hOut - 1) * paddedW + p.wOut) / NR) }, (_, t) => NR * t);
  return { start, rows: p.hOut, rowLength: p.wOut, rowStride: paddedW };
}

/**
 * Image i of x, zero-padded, as the column matrix (gemmGatheredA and B): with stride 1, row (ci, ky, kx)
 * of the column matrix at output (oy, ox) is padded pixel (ci, oy + ky, ox + kx), so 8 neighbouring
 * outputs of one row read 8 neighbouring pixels.
 */
function paddedImage(x: Float32Array, xOffset: number, p: Conv2dParams): ImageOperand {
  const { cIn, h, w, kh, kw, padH, padW } = p;
  const [paddedH, paddedW] = [h + 2 * padH, w + 2 * padW];
  return {
    data: x,
    offset: xOffset,
    planes: cIn,
    h,
    w,
    padH,
    padW,
    tapOffset: (q) => (Math.floor(q / (kh * kw)) * paddedH + (Math.floor(q / kw) % kh)) * paddedW + (q % kw),
    positionOffset: (j) => Math.floor(j / p.wOut) * paddedW + (j % p.wOut),
  };
}

interface BackwardData {
  dy: Float32Array;
  w: Float32Array;
  dx: Float32Array;
  p: Conv2dParams;
}

/** dx[n] = col2im(W^T @ dy[n]). */
export function conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, p: Conv2dParams): void {
  if (p.stride === 1 && p.padH <= p.kh - 1 && p.padW <= p.kw - 1 && !isPointwise(p)) {
    // dx[ci, y, x] = sum over co, ky, kx of w[co, ci, ky, kx] * dy[co, y + padH - ky, x + padW - kx]: the
    // convolution of dy with w'[ci, co, ky', kx'] = w[co, ci, kh-1-ky', kw-1-kx'] and padding (kh-1-padH, kw-1-padW).
    const { cIn, cOut, kh, kw } = p;
    const taps = kh * kw;
    const flipped = flippedWeights.take(cIn * cOut * taps);
    for (let co = 0; co < cOut; co++)
      for (let ci = 0; ci < cIn; ci++)
        for (let t = 0; t < taps; t++) flipped[(ci * cOut + co) * taps + taps - 1 - t] = w[(co * cIn + ci) * taps + t];
    const q: Conv2dParams = { n: p.n, cIn: cOut, h: p.hOut, w: p.wOut, cOut: cIn, kh, kw, padH: kh - 1 - p.padH, padW: kw - 1 - p.padW, stride: 1, hOut: p.h, wOut: p.w };
    forward({ x: dy, w: flipped, bias: null, y: dx, p: q });
    return;
  }
  forEachUnit(backwardDataImage, { dy, w, dx, p }, p.n, work(p));
}

const backwardDataImage = parallelTask('conv2dBackwardData', ({ dy, w, dx, p }: BackwardData, i: number) => {
  const k = patchSize(p);
  const outSize = p.hOut * p.wOut;
  const inSize = p.cIn * p.h * p.w;
  const weightT = { data: w, offset: 0, ld: k, trans: true };
  const grad = { data: dy, offset: i * p.cOut * outSize, ld: outSize, trans: false };
  const pointwise = isPointwise(p);
  const colGrad = pointwise ? { data: dx, offset: i * inSize, ld: outSize } : { data: columns.take(k * outSize), offset: 0, ld: outSize };
  gemm(k, outSize, p.cOut, 1, weightT, grad, 0, colGrad);
  if (pointwise) return;
  dx.fill(0, i * inSize, (i + 1) * inSize);
  col2imAdd(colGrad.data, p, dx, i * inSize);
});

interface BackwardFilter {
  x: Float32Array;
  dy: Float32Array;
  dw: Float32Array;
  p: Conv2dParams;
  /** Columns of dW per chunk. */
  rangeSize: number;
}

/** dW = sum over images of dy[n] @ cols(x[n])^T. */
export function conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, p: Conv2dParams): void {
  const k = patchSize(p);
  if (p.n === 0) {
    dw.fill(0, 0, p.cOut * k);
    return;
  }
  // Ranges of whole product panels, one per thread: each range writes all the images and packs all of dy.
  const rangeSize = Math.ceil(Math.ceil(k / NR) / threadsFor(work(p))) * NR;
  parallelFor(filterColumns, { x, dy, dw, p, rangeSize }, Math.ceil(k / rangeSize));
}

const filterColumns = parallelTask('conv2dBackwardFilter', ({ x, dy, dw, p, rangeSize }: BackwardFilter, range: number) => {
  const k = patchSize(p);
  const outSize = p.hOut * p.wOut;
  const first = range * rangeSize;
  const count = Math.min(rangeSize, k - first);
  const pointwise = isPointwise(p);
  const grads = Array.from({ length: p.n }, (_, i) => ({ data: dy, offset: i * p.cOut * outSize, ld: outSize, trans: false }));
  const out = { data: dw, offset: first, ld: k };
  // With stride 1, one product over all the images' positions; otherwise the first image overwrites dw
  // and later ones add onto it.
  if (!pointwise && p.stride === 1) {
    const images = grads.map((_, i) => paddedImage(x, i * p.cIn * p.h * p.w, p));
    if (gemmGatheredA(count, p.cOut, outSize, 1, images, first, grads.map((g) => ({ ...g, trans: true })), out)) return;
  }
  for (let i = 0; i < p.n; i++) {
    const grad = grads[i];
    if (!pointwise) {
      const xOffset = i * p.cIn * p.h * p.w;
      gemmPackedB(p.cOut, count, outSize, 1, grad, (panels, offset) => packColumns(x, xOffset, p, panels, offset, false, first, count), i === 0 ? 0 : 1, out);
      continue;
    }
    const cols = columnsOf(x, i, p, first, count);
    gemm(p.cOut, count, outSize, 1, grad, { ...cols, trans: true }, i === 0 ? 0 : 1, out);
  }
});
