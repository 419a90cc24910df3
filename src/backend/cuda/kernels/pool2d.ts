/**
 * Max and average pooling, forward only, as src/backend/cpu/pool2d.ts: one thread per output, the window
 * clipped to the image; 'avg' divides by the positions inside it (count_include_pad=False), 'max' passes NaN on.
 */
import type { ArgKind, KernelModule } from '../context.js';
import { COMMON, FLOAT_TYPES } from './common.js';

const perType = (S: string, T: string): string => String.raw`
extern "C" __global__ void pool2d_${S}(const ${T}* x, ${T}* y, i64 planes, int h, int w, int hOut, int wOut, int kernel, int stride, int pad, int isMax) {
  const i64 n = planes * hOut * wOut;
  GRID_STRIDE(i, n) {
    const int ox = (int)(i % wOut);
    const int oy = (int)((i / wOut) % hOut);
    const ${T}* s = x + (i / ((i64)hOut * wOut)) * h * w;
    const int y0 = max(oy * stride - pad, 0), y1 = min(oy * stride - pad + kernel, h);
    const int x0 = max(ox * stride - pad, 0), x1 = min(ox * stride - pad + kernel, w);
    float acc = isMax ? NEG_INF : 0.0f;
    for (int iy = y0; iy < y1; ++iy)
      for (int ix = x0; ix < x1; ++ix) {
        const float v = ld(s, (i64)iy * w + ix);
        acc = isMax ? (v > acc || v != v ? v : acc) : acc + v;
      }
    st(y, i, isMax ? acc : acc / (float)((y1 - y0) * (x1 - x0)));
  }
}
`;

const kernels: Record<string, readonly ArgKind[]> = {};
for (const [S] of FLOAT_TYPES) kernels[`pool2d_${S}`] = ['ptr', 'ptr', 'i64', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32', 'i32'];

export const POOL2D: KernelModule = { name: 'pool2d.cu', source: COMMON + FLOAT_TYPES.map(([S, T]) => perType(S, T)).join(''), kernels };
