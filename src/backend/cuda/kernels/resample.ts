/**
 * EDM's depthwise FIR resampling by 2, as src/backend/cpu/resample.ts: the 2-D filter is the outer product
 * of the taps, scaled by (4 for up, 1 for down) / sum(taps)^2.
 *   decimate (conv2d, stride 2):         out[o] = sum_t f[t] in[2o - pad + t]
 *   expand (conv_transpose2d, stride 2): out[o] = sum over t of the parity of o + pad of f[t] in[(o + pad - t) / 2]
 * Each is the other's adjoint: down's backward expands and up's backward decimates, with the same scale.
 * One thread per output element, float32 or bfloat16 storage; the taps (at most 8) are kernel arguments.
 * `channels` > 0 takes channels-last tensors [n, h, w, channels] (neighbouring threads then read
 * neighbouring channels); 0 takes planes [planes, h, w].
 */
import type { KernelModule } from '../context.js';
import { COMMON, FLOAT_TYPES } from './common.js';
import { KernelStruct } from './struct.js';

export const MAX_TAPS = 8;
/** The filter: taps, their count, padding, direction (1: expand) and the gain. */
export const FIR = new KernelStruct('Fir', [
  { name: 'taps', type: 'float', length: MAX_TAPS },
  { name: 'k', type: 'int' },
  { name: 'pad', type: 'int' },
  { name: 'expand', type: 'int' },
  { name: 'scale', type: 'float' },
]);

const SOURCE = COMMON + String.raw`
${FIR.cText()}

`;

const perType = (S: string, T: string): string => String.raw`
extern "C" __global__ void fir2d_${S}(const ${T}* src, int inH, int inW, ${T}* dst, int outH, int outW, i64 planes, int channels, Fir f) {
  const i64 n = planes * outH * outW;
  // the pixel's first element and the distance between pixels
  const int step = channels > 0 ? channels : 1;
  GRID_STRIDE(i, n) {
    const i64 pixel = i / step;
    const int ox = (int)(pixel % outW);
    const int oy = (int)((pixel / outW) % outH);
    const i64 image = pixel / ((i64)outH * outW);
    const ${T}* s = src + image * inH * inW * step + (i % step);
    float acc = 0.0f;
    if (f.expand) {
      for (int ty = (oy + f.pad) & 1; ty < f.k; ty += 2) {
        const int iy = (oy + f.pad - ty) >> 1;
        if (iy < 0 || iy >= inH) continue;
        float row = 0.0f;
        for (int tx = (ox + f.pad) & 1; tx < f.k; tx += 2) {
          const int ix = (ox + f.pad - tx) >> 1;
          if (ix >= 0 && ix < inW) row += f.taps[tx] * ld(s, ((i64)iy * inW + ix) * step);
        }
        acc += f.taps[ty] * row;
      }
    } else {
      for (int ty = 0; ty < f.k; ++ty) {
        const int iy = 2 * oy - f.pad + ty;
        if (iy < 0 || iy >= inH) continue;
        float row = 0.0f;
        for (int tx = 0; tx < f.k; ++tx) {
          const int ix = 2 * ox - f.pad + tx;
          if (ix >= 0 && ix < inW) row += f.taps[tx] * ld(s, ((i64)iy * inW + ix) * step);
        }
        acc += f.taps[ty] * row;
      }
    }
    st(dst, i, acc * f.scale);
  }
}
`;

export const RESAMPLE: KernelModule = {
  name: 'resample.cu',
  source: SOURCE + FLOAT_TYPES.map(([S, T]) => perType(S, T)).join(''),
  kernels: Object.fromEntries(FLOAT_TYPES.map(([S]) => [`fir2d_${S}`, ['ptr', 'i32', 'i32', 'ptr', 'i32', 'i32', 'i64', 'i32', { bytes: FIR.bytes }] as const])),
};
