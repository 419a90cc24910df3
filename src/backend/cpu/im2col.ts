/**
 * The column matrix of one image for a convolution as a matrix product, and its adjoint.
 * cols is [cIn*kh*kw, hOut*wOut]: row (ci, ky, kx), column (oy, ox) holds x[ci, oy*stride - padH + ky,
 * ox*stride - padW + kx], zero where that falls in the padding.
 */
import type { Conv2dParams } from '../backend.js';
// a packed B panel holds NR columns of the product, interleaved
import { NR as LANES } from './simd-kernel.js';

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
  const { h, w, kh, kw, padH, padW, stride, hOut, wOut } = p;
  let dst = 0;
  // Rows are short (wOut is 4 to 32 in a U-Net), so the zero runs are written by loops: a fill() call
  // per run cost more than the copying, and the whole function twice what it does now.
  for (let row = firstRow; row < firstRow + rowCount; row++) {
    const kx = row % kw;
    const ky = Math.floor(row / kw) % kh;
    const plane = xOffset + Math.floor(row / (kw * kh)) * h * w;
    const [oyLo, oyHi] = validOutputs(ky, padH, stride, h, hOut);
    const [oxLo, oxHi] = validOutputs(kx, padW, stride, w, wOut);
    const end = dst + hOut * wOut;
    for (const top = dst + oyLo * wOut; dst < top; dst++) cols[dst] = 0;
    let src = plane + (oyLo * stride - padH + ky) * w + oxLo * stride - padW + kx;
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
  const { cIn, h, w, kh, kw, padH, padW, stride, hOut, wOut } = p;
  let row = 0;
  for (let ci = 0; ci < cIn; ci++) {
    const plane = dxOffset + ci * h * w;
    for (let ky = 0; ky < kh; ky++) {
      const [oyLo, oyHi] = validOutputs(ky, padH, stride, h, hOut);
      for (let kx = 0; kx < kw; kx++, row += hOut * wOut) {
        const [oxLo, oxHi] = validOutputs(kx, padW, stride, w, wOut);
        for (let oy = oyLo; oy < oyHi; oy++) {
          const src = row + oy * wOut;
          let dst = plane + (oy * stride - padH + ky) * w + oxLo * stride - padW + kx;
          for (let ox = oxLo; ox < oxHi; ox++, dst += stride) dx[dst] += cols[src + ox];
        }
      }
    }
  }
}

/**
 * Writes the column matrix of the image at x[xOffset..] straight into matrix-product panels of 8 lanes
 * (the layout of packB in matmul.ts: element (q, j) of the k x n operand at offset + (floor(j/8)*k + q)*8 +
 * j%8, lanes past n zero), without writing the column matrix itself:
 * - lanesArePositions: the operand is the column matrix (k = its rows, n = output positions), as the
 *   forward pass multiplies it;
 * - else its transpose restricted to rows [firstRow, firstRow + rowCount) (k = positions, n = rowCount),
 *   as the filter gradient multiplies it.
 * Each entry is the same float32 value im2col writes.
 */
export function packColumns(x: Float32Array, xOffset: number, p: Conv2dParams, out: Float32Array, offset: number, lanesArePositions: boolean, firstRow = 0, rowCount = p.cIn * p.kh * p.kw): void {
  if (lanesArePositions) packByPositions(x, xOffset, p, out, offset);
  else packByRows(x, xOffset, p, out, offset, firstRow, rowCount);
}

/** Input plane offset, ky and kx of each row of the column matrix (per thread, reused). */
let taps = new Int32Array(0);

function tapTable(xOffset: number, p: Conv2dParams, firstRow: number, rowCount: number): Int32Array {
  if (taps.length < 3 * rowCount) taps = new Int32Array(3 * rowCount);
  for (let r = 0; r < rowCount; r++) {
    const row = firstRow + r;
    taps[3 * r] = xOffset + Math.floor(row / (p.kw * p.kh)) * p.h * p.w;
    taps[3 * r + 1] = Math.floor(row / p.kw) % p.kh;
    taps[3 * r + 2] = row % p.kw;
  }
  return taps;
}

/** The column matrix, k = its rows, lanes = 8 consecutive output positions: written in order. */
function packByPositions(x: Float32Array, xOffset: number, p: Conv2dParams, out: Float32Array, offset: number): void {
  const { h, w, padH, padW, stride, wOut } = p;
  const rows = p.cIn * p.kh * p.kw;
  const positions = p.hOut * wOut;
  const tap = tapTable(xOffset, p, 0, rows);
  let d = offset;
  for (let j0 = 0; j0 < positions; j0 += LANES) {
    const oy = Math.floor(j0 / wOut);
    const ox0 = j0 % wOut;
    if (stride === 1 && ox0 + LANES <= wOut) {
      // The panel's positions are 8 neighbours of one output row: each row of the matrix reads 8
      // neighbours of one input row.
      for (let r = 0; r < rows; r++, d += LANES) {
        const iy = oy - padH + tap[3 * r + 1];
        const ix0 = ox0 - padW + tap[3 * r + 2];
        const src = tap[3 * r] + iy * w + ix0;
        if (iy < 0 || iy >= h) {
          out[d] = 0; out[d + 1] = 0; out[d + 2] = 0; out[d + 3] = 0; out[d + 4] = 0; out[d + 5] = 0; out[d + 6] = 0; out[d + 7] = 0;
        } else if (ix0 >= 0 && ix0 + LANES <= w) {
          out[d] = x[src]; out[d + 1] = x[src + 1]; out[d + 2] = x[src + 2]; out[d + 3] = x[src + 3];
          out[d + 4] = x[src + 4]; out[d + 5] = x[src + 5]; out[d + 6] = x[src + 6]; out[d + 7] = x[src + 7];
        } else {
          for (let t = 0; t < LANES; t++) out[d + t] = ix0 + t >= 0 && ix0 + t < w ? x[src + t] : 0;
        }
      }
      continue;
    }
    const lanes = Math.min(LANES, positions - j0);
    for (let r = 0; r < rows; r++, d += LANES) {
      const plane = tap[3 * r], ky = tap[3 * r + 1], kx = tap[3 * r + 2];
      for (let t = 0; t < lanes; t++) {
        const iy = Math.floor((j0 + t) / wOut) * stride - padH + ky;
        const ix = ((j0 + t) % wOut) * stride - padW + kx;
        out[d + t] = iy >= 0 && iy < h && ix >= 0 && ix < w ? x[plane + iy * w + ix] : 0;
      }
      for (let t = lanes; t < LANES; t++) out[d + t] = 0;
    }
  }
}

/** The transpose of rows [firstRow, firstRow + rowCount), k = output positions, lanes = 8 rows. */
function packByRows(x: Float32Array, xOffset: number, p: Conv2dParams, out: Float32Array, offset: number, firstRow: number, rowCount: number): void {
  const { h, w, padH, padW, stride, hOut, wOut } = p;
  const positions = hOut * wOut;
  const tap = tapTable(xOffset, p, firstRow, rowCount);
  for (let r0 = 0; r0 < rowCount; r0 += LANES) {
    const panel = offset + r0 * positions;
    for (let t = 0; t < LANES; t++) {
      const r = r0 + t;
      if (r >= rowCount) {
        for (let j = 0, d = panel + t; j < positions; j++, d += LANES) out[d] = 0;
        continue;
      }
      const ky = tap[3 * r + 1], kx = tap[3 * r + 2];
      const [oyLo, oyHi] = validOutputs(ky, padH, stride, h, hOut);
      const [oxLo, oxHi] = validOutputs(kx, padW, stride, w, wOut);
      let d = panel + t;
      for (let oy = 0; oy < hOut; oy++) {
        if (oy < oyLo || oy >= oyHi) {
          for (let ox = 0; ox < wOut; ox++, d += LANES) out[d] = 0;
          continue;
        }
        const src = tap[3 * r] + (oy * stride - padH + ky) * w - padW + kx;
        let ox = 0;
        for (; ox < oxLo; ox++, d += LANES) out[d] = 0;
        for (; ox < oxHi; ox++, d += LANES) out[d] = x[src + ox * stride];
        for (; ox < wOut; ox++, d += LANES) out[d] = 0;
      }
    }
  }
}
