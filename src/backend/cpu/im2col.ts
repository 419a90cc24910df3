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

/** Writes the column matrix of the image at x[xOffset..] into cols (fully overwritten). */
export function im2col(x: Float32Array, xOffset: number, p: Conv2dParams, cols: Float32Array): void {
  const { cIn, h, w, kh, kw, pad, stride, hOut, wOut } = p;
  let dst = 0;
  for (let ci = 0; ci < cIn; ci++) {
    const plane = xOffset + ci * h * w;
    for (let ky = 0; ky < kh; ky++) {
      const [oyLo, oyHi] = validOutputs(ky, pad, stride, h, hOut);
      for (let kx = 0; kx < kw; kx++) {
        const [oxLo, oxHi] = validOutputs(kx, pad, stride, w, wOut);
        for (let oy = 0; oy < hOut; oy++, dst += wOut) {
          if (oy < oyLo || oy >= oyHi) {
            cols.fill(0, dst, dst + wOut);
            continue;
          }
          cols.fill(0, dst, dst + oxLo);
          let src = plane + (oy * stride - pad + ky) * w + oxLo * stride - pad + kx;
          for (let ox = oxLo; ox < oxHi; ox++, src += stride) cols[dst + ox] = x[src];
          cols.fill(0, dst + oxHi, dst + wOut);
        }
      }
    }
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
