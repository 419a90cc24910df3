/**
 * Bilinear resizing with align_corners=False, forward only, as src/backend/cpu/bilinear.ts (and PyTorch's
 * upsample_bilinear2d with an output size): src = max((o + 0.5) * in / out - 0.5, 0), the lower pixel
 * floor(src), the next one clamped to the edge. One thread per output.
 */
import type { ArgKind, KernelModule } from '../context.js';
import { COMMON, FLOAT_TYPES } from './common.js';

const SOURCE = COMMON + String.raw`
// The lower pixel, the step to the next (0 at the last) and the next one's weight.
__device__ __forceinline__ void bilinearTap(int o, int inLen, int outLen, int* index, int* step, float* weight) {
  const float src = fmaxf((o + 0.5f) * ((float)inLen / (float)outLen) - 0.5f, 0.0f);
  *index = (int)src;
  *step = *index < inLen - 1 ? 1 : 0;
  *weight = src - (float)*index;
}
`;

const perType = (S: string, T: string): string => String.raw`
extern "C" __global__ void resize_bilinear_${S}(const ${T}* x, ${T}* y, i64 planes, int h, int w, int hOut, int wOut) {
  const i64 n = planes * hOut * wOut;
  GRID_STRIDE(i, n) {
    const int ox = (int)(i % wOut);
    const int oy = (int)((i / wOut) % hOut);
    const ${T}* s = x + (i / ((i64)hOut * wOut)) * h * w;
    int iy, dy, ix, dx;
    float wy, wx;
    bilinearTap(oy, h, hOut, &iy, &dy, &wy);
    bilinearTap(ox, w, wOut, &ix, &dx, &wx);
    const i64 top = (i64)iy * w, bottom = top + (i64)dy * w;
    const float upper = (1.0f - wx) * ld(s, top + ix) + wx * ld(s, top + ix + dx);
    const float lower = (1.0f - wx) * ld(s, bottom + ix) + wx * ld(s, bottom + ix + dx);
    st(y, i, (1.0f - wy) * upper + wy * lower);
  }
}
`;

const kernels: Record<string, readonly ArgKind[]> = {};
for (const [S] of FLOAT_TYPES) kernels[`resize_bilinear_${S}`] = ['ptr', 'ptr', 'i64', 'i32', 'i32', 'i32', 'i32'];

export const BILINEAR: KernelModule = { name: 'bilinear.cu', source: SOURCE + FLOAT_TYPES.map(([S, T]) => perType(S, T)).join(''), kernels };
