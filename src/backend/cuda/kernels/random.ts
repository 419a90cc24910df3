/**
 * Philox 4x32-10 random numbers, the same stream as src/base/philox.ts: element i uses counter block
 * (counterOffset + floor(i/4)), lane i%4, key (seed low, seed high). One thread per counter block.
 * Uniforms are the float32-exact odd multiples of 2^-24; normals are Box-Muller on lane pairs computed in
 * double (as the host reference computes them) and rounded once to float32, so both devices agree to the
 * last bit or one ulp.
 *
 * Each kernel has an `_at` twin for CUDA graphs: the counter offset is read from device memory (a base the
 * host writes before each replay) plus a delta fixed at capture, so a replayed draw takes the numbers the
 * same draw would take eagerly at that step, where a captured by-value offset would repeat the first.
 */
import type { KernelModule } from '../context.js';
import { COMMON, FLOAT_TYPES } from './common.js';

const SOURCE = COMMON + String.raw`
__device__ __forceinline__ uint4 philox(u64 counter, u32 k0, u32 k1) {
  u32 c0 = (u32)counter, c1 = (u32)(counter >> 32), c2 = 0, c3 = 0;
  #pragma unroll
  for (int r = 0; r < 10; ++r) {
    const u32 hi0 = __umulhi(0xD2511F53u, c0), lo0 = 0xD2511F53u * c0;
    const u32 hi1 = __umulhi(0xCD9E8D57u, c2), lo1 = 0xCD9E8D57u * c2;
    c0 = hi1 ^ c1 ^ k0; c1 = lo1; c2 = hi0 ^ c3 ^ k1; c3 = lo0;
    k0 += 0x9E3779B9u; k1 += 0xBB67AE85u;
  }
  return make_uint4(c0, c1, c2, c3);
}

__device__ __forceinline__ double toUniform(u32 u) { return ((double)(u >> 9) * 2.0 + 1.0) * 5.9604644775390625e-8; }

__device__ __forceinline__ void philox_fill_body(float* out, i64 n, u32 k0, u32 k1, u64 counterOffset, int normal) {
  GRID_STRIDE(b, (n + 3) / 4) {
    const uint4 r = philox(counterOffset + (u64)b, k0, k1);
    const u32 lanes[4] = {r.x, r.y, r.z, r.w};
    float v[4];
    if (normal) {
      #pragma unroll
      for (int p = 0; p < 2; ++p) {
        const double rad = sqrt(-2.0 * log(toUniform(lanes[2 * p])));
        const double theta = 6.283185307179586 * toUniform(lanes[2 * p + 1]);
        v[2 * p] = (float)(rad * cos(theta));
        v[2 * p + 1] = (float)(rad * sin(theta));
      }
    } else {
      #pragma unroll
      for (int l = 0; l < 4; ++l) v[l] = (float)toUniform(lanes[l]);
    }
    const i64 base = b * 4;
    #pragma unroll
    for (int l = 0; l < 4; ++l) if (base + l < n) out[base + l] = v[l];
  }
}

extern "C" __global__ void philox_fill(float* out, i64 n, u32 k0, u32 k1, u64 counterOffset, int normal) {
  philox_fill_body(out, n, k0, k1, counterOffset, normal);
}

extern "C" __global__ void philox_fill_at(float* out, i64 n, u32 k0, u32 k1, const u64* counterBase, u64 delta, int normal) {
  philox_fill_body(out, n, k0, k1, *counterBase + delta, normal);
}
`;

/**
 * Inverted dropout fused with its mask: y = x / (1 - p) where the stream's uniform u >= p, else 0. The
 * backward applies the same kernel to the gradient with the same key and counter: the mask is drawn
 * again rather than stored.
 */
const dropout = (S: string, T: string): string => String.raw`
__device__ __forceinline__ void dropout_body_${S}(const ${T}* x, ${T}* y, i64 n, u32 k0, u32 k1, u64 counterOffset, double p, double scale) {
  GRID_STRIDE(b, (n + 3) / 4) {
    const uint4 r = philox(counterOffset + (u64)b, k0, k1);
    const u32 lanes[4] = {r.x, r.y, r.z, r.w};
    const i64 base = b * 4;
    #pragma unroll
    for (int l = 0; l < 4; ++l) {
      if (base + l >= n) break;
      const double u = (double)(float)toUniform(lanes[l]);
      st(y, base + l, u >= p ? (float)((double)ld(x, base + l) * scale) : 0.0f);
    }
  }
}

extern "C" __global__ void dropout_${S}(const ${T}* x, ${T}* y, i64 n, u32 k0, u32 k1, u64 counterOffset, double p, double scale) {
  dropout_body_${S}(x, y, n, k0, k1, counterOffset, p, scale);
}

extern "C" __global__ void dropout_at_${S}(const ${T}* x, ${T}* y, i64 n, u32 k0, u32 k1, const u64* counterBase, u64 delta, double p, double scale) {
  dropout_body_${S}(x, y, n, k0, k1, *counterBase + delta, p, scale);
}
`;

export const RANDOM: KernelModule = {
  name: 'random.cu',
  source: SOURCE + FLOAT_TYPES.map(([S, T]) => dropout(S, T)).join(''),
  kernels: {
    philox_fill: ['ptr', 'i64', 'u32', 'u32', 'u64', 'i32'],
    philox_fill_at: ['ptr', 'i64', 'u32', 'u32', 'ptr', 'u64', 'i32'],
    ...Object.fromEntries(FLOAT_TYPES.map(([S]) => [`dropout_${S}`, ['ptr', 'ptr', 'i64', 'u32', 'u32', 'u64', 'f64', 'f64'] as const])),
    ...Object.fromEntries(FLOAT_TYPES.map(([S]) => [`dropout_at_${S}`, ['ptr', 'ptr', 'i64', 'u32', 'u32', 'ptr', 'u64', 'f64', 'f64'] as const])),
  },
};
