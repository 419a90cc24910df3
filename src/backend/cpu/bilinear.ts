/**
 * Bilinear resizing with align_corners=False (see ResizeParams), forward only, in float64: each axis is
 * a table of (first pixel, weight of the next), and each output the weighted mean of four pixels.
 */
import type { ResizeParams } from '../backend.js';

/** PyTorch's source index for each output position: the lower pixel, the step to the next (0 at the edge) and its weight. */
function bilinearTaps(inLen: number, outLen: number): { index: Int32Array; step: Int32Array; weight: Float64Array } {
  const index = new Int32Array(outLen);
  const step = new Int32Array(outLen);
  const weight = new Float64Array(outLen);
  const scale = inLen / outLen;
  for (let o = 0; o < outLen; o++) {
    const src = Math.max((o + 0.5) * scale - 0.5, 0);
    const i = Math.floor(src);
    index[o] = i;
    step[o] = i < inLen - 1 ? 1 : 0;
    weight[o] = src - i;
  }
  return { index, step, weight };
}

export function resizeBilinear(x: Float32Array, y: Float32Array, p: ResizeParams): void {
  const { h, w, hOut, wOut } = p;
  const rows = bilinearTaps(h, hOut);
  const cols = bilinearTaps(w, wOut);
  for (let plane = 0; plane < p.planes; plane++) {
    const src = plane * h * w;
    let dst = plane * hOut * wOut;
    for (let oy = 0; oy < hOut; oy++) {
      const top = src + rows.index[oy] * w;
      const bottom = top + rows.step[oy] * w;
      const wy = rows.weight[oy];
      for (let ox = 0; ox < wOut; ox++, dst++) {
        const left = cols.index[ox];
        const right = left + cols.step[ox];
        const wx = cols.weight[ox];
        const upper = (1 - wx) * x[top + left] + wx * x[top + right];
        const lower = (1 - wx) * x[bottom + left] + wx * x[bottom + right];
        y[dst] = (1 - wy) * upper + wy * lower;
      }
    }
  }
}
