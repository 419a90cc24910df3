/**
 * The column matrix of one image for a convolution as a matrix product, and its adjoint.
 * cols is [cIn*kh*kw, hOut*wOut]: row (ci, ky, kx), column (oy, ox) holds x[ci, oy*stride - pad + ky,
 * ox*stride - pad + kx], zero where that falls in the padding.
 */
import type { Conv2dParams } from '../backend.js';

/** The output positions [lo, hi) whose input index o*stride - pad + tap lies inside [0, inLen). */
function validOutputs(tap: number, pad: number, stride: number, inLen: number, outLen: number): [number, number] {
  const lo = Math.min(outLen, Math.max(0, Math.ceil((pad - tap) / stride)));
  const hi = Math.max(lo, Math.min(outLen, Math.floor((inLen - 1 + pad - tap) / stride) + 1));
  return [lo, hi];
}

/**
 * Writes rows [firstRow, firstRow + rowCount) of the column matrix of the image at x[xOffset..] into cols
 * (rowCount x hOut*wOut, fully overwritten); by default the whole matrix.
 */
export function im2col(x: Float32Array, xOffset: number, p: Conv2dParams, cols: Float32Array, firstRow = 0, rowCount = p.cIn * p.kh * p.kw): void {
  const { h, w, kh, kw, pad, stride, hOut, wOut } = p;
  let dst = 0;
  // Rows are short (wOut is 4 to 32 in a U-Net), so the zero runs are written by loops: a fill() call
  // per run cost more than the copying, and the whole function twice what it does now.
  for (let row = firstRow; row < firstRow + rowCount; row++) {
    const kx = row % kw;
    const ky = Math.floor(row / kw) % kh;
    const plane = xOffset + Math.floor(row / (kw * kh)) * h * w;
    const [oyLo, oyHi] = validOutputs(ky, pad, stride, h, hOut);
    const [oxLo, oxHi] = validOutputs(kx, pad, stride, w, wOut);
    const end = dst + hOut * wOut;
    for (const top = dst + oyLo * wOut; dst < top; dst++) cols[dst] = 0;
    let src = plane + (oyLo * stride - pad + ky) * w + oxLo * stride - pad + kx;
    for (let oy = oyLo; oy < oyHi; oy++, dst += wOut, src += stride * w) {
      let ox = 0;
      for (; ox < oxLo; ox++) cols[dst + ox] = 0;
      for (let s = src; ox < oxHi; ox++, s += stride) cols[dst + ox] = x[s];
      for (; ox < wOut; ox++) cols[dst + ox] = 0;
    }
    for (; dst < end; dst++) cols[dst] = 0;
  }
}

/** The adjoint of im2col: adds every column entry back onto the input position it was read from (dx must start zeroed). */
export function col2imAdd(cols: Float32Array, p: Conv2dParams, dx: Float32Array, dxOffset: number): void {
  const { cIn, h, w, kh, kw, pad, stride, hOut, wOut } = p;
  let row = 0;
  for (let ci = 0; ci < cIn; ci++) {
    const plane = dxOffset + ci * h * w;
    for (let ky = 0; ky < kh; ky++) {
      const [oyLo, oyHi] = validOutputs(ky, pad, stride, h, hOut);
      for (let kx = 0; kx < kw; kx++, row += hOut * wOut) {
        const [oxLo, oxHi] = validOutputs(kx, pad, stride, w, wOut);
        for (let oy = oyLo; oy < oyHi; oy++) {
          const src = row + oy * wOut;
          let dst = plane + (oy * stride - pad + ky) * w + oxLo * stride - pad + kx;
          for (let ox = oxLo; ox < oxHi; ox++, dst += stride) dx[dst] += cols[src + ox];
        }
      }
    }
  }
}
