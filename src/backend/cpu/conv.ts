/**
 * 2-D convolution (groups = 1, NCHW, weight [cOut, cIn, kh, kw]) as one matrix product per image over its
 * column matrix (see im2col.ts): y[n] = W @ cols(x[n]), with W viewed as [cOut, cIn*kh*kw]. A 1x1 kernel
 * with stride 1 and no padding needs no column matrix: the image itself, [cIn, h*w], is it.
 */
import type { Conv2dParams } from '../backend.js';
import { type StridedMatrix, gemm } from './matmul.js';
import { col2imAdd, im2col } from './im2col.js';
import { float32Scratch } from './scratch.js';

const columns = float32Scratch();

const isPointwise = (p: Conv2dParams): boolean => p.kh === 1 && p.kw === 1 && p.stride === 1 && p.pad === 0;

/** Rows of the column matrix. */
const patchSize = (p: Conv2dParams): number => p.cIn * p.kh * p.kw;

/** The column matrix of image `i`: x itself for a pointwise conv, else written into scratch. */
function columnsOf(x: Float32Array, i: number, p: Conv2dParams): StridedMatrix {
  const imageOffset = i * p.cIn * p.h * p.w;
  const ld = p.hOut * p.wOut;
  if (isPointwise(p)) return { data: x, offset: imageOffset, ld };
  const cols = columns.take(patchSize(p) * ld);
  im2col(x, imageOffset, p, cols);
  return { data: cols, offset: 0, ld };
}

export function conv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, p: Conv2dParams): void {
  const { n, cOut } = p;
  const k = patchSize(p);
  const outSize = p.hOut * p.wOut;
  for (let i = 0; i < n; i++) {
    const yOffset = i * cOut * outSize;
    // The bias goes in first, so the product adds onto it (beta = 1) with a single rounding.
    if (bias) for (let co = 0; co < cOut; co++) y.fill(bias[co], yOffset + co * outSize, yOffset + (co + 1) * outSize);
    const weight = { data: w, offset: 0, ld: k, trans: false };
    const cols = { ...columnsOf(x, i, p), trans: false };
    gemm(cOut, outSize, k, 1, weight, cols, bias ? 1 : 0, { data: y, offset: yOffset, ld: outSize });
  }
}

/** dx[n] = col2im(W^T @ dy[n]). */
export function conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, p: Conv2dParams): void {
  const { n, cOut } = p;
  const k = patchSize(p);
  const outSize = p.hOut * p.wOut;
  const inSize = p.cIn * p.h * p.w;
  const weightT = { data: w, offset: 0, ld: k, trans: true };
  const pointwise = isPointwise(p);
  for (let i = 0; i < n; i++) {
    const grad = { data: dy, offset: i * cOut * outSize, ld: outSize, trans: false };
    const colGrad = pointwise ? { data: dx, offset: i * inSize, ld: outSize } : { data: columns.take(k * outSize), offset: 0, ld: outSize };
    gemm(k, outSize, cOut, 1, weightT, grad, 0, colGrad);
    if (pointwise) continue;
    dx.fill(0, i * inSize, (i + 1) * inSize);
    col2imAdd(colGrad.data, p, dx, i * inSize);
  }
}

/** dW = sum over images of dy[n] @ cols(x[n])^T. */
export function conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, p: Conv2dParams): void {
  const { n, cOut } = p;
  const k = patchSize(p);
  const outSize = p.hOut * p.wOut;
  if (n === 0) dw.fill(0, 0, cOut * k);
  for (let i = 0; i < n; i++) {
    const cols = columnsOf(x, i, p);
    const grad = { data: dy, offset: i * cOut * outSize, ld: outSize, trans: false };
    // The first image overwrites dw, later ones add onto it.
    gemm(cOut, k, outSize, 1, grad, { ...cols, trans: true }, i === 0 ? 0 : 1, { data: dw, offset: 0, ld: k });
  }
}
