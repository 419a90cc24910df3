/**
 * Max and average pooling (see Pool2dParams), forward only: the feature networks of evaluation run in
 * inference. Each output is its window's max, or its mean over the window's positions inside the image
 * (count_include_pad=False), summed in float64.
 */
import type { Pool2dParams } from '../backend.js';

export function pool2d(x: Float32Array, y: Float32Array, p: Pool2dParams): void {
  const { h, w, hOut, wOut, kernel, stride, pad } = p;
  const isMax = p.mode === 'max';
  for (let plane = 0; plane < p.n * p.c; plane++) {
    const src = plane * h * w;
    let dst = plane * hOut * wOut;
    for (let oy = 0; oy < hOut; oy++) {
      const y0 = Math.max(oy * stride - pad, 0);
      const y1 = Math.min(oy * stride - pad + kernel, h);
      for (let ox = 0; ox < wOut; ox++, dst++) {
        const x0 = Math.max(ox * stride - pad, 0);
        const x1 = Math.min(ox * stride - pad + kernel, w);
        let acc = isMax ? -Infinity : 0;
        for (let iy = y0; iy < y1; iy++) {
          const row = src + iy * w;
          if (isMax) for (let ix = x0; ix < x1; ix++) acc = x[row + ix] > acc || Number.isNaN(x[row + ix]) ? x[row + ix] : acc;
          else for (let ix = x0; ix < x1; ix++) acc += x[row + ix];
        }
        y[dst] = isMax ? acc : acc / ((y1 - y0) * (x1 - x0));
      }
    }
  }
}
