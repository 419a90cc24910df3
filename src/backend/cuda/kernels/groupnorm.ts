/**
 * GroupNorm forward and backward, optionally fused with the SiLU that follows every norm of a U-Net block,
 * as src/backend/cpu/groupnorm.ts: one block per (sample, group), whose cpg*hw elements are contiguous in
 * NCHW; the `_nhwc_` kernels take channels-last activations, where the group is cpg channels of each pixel. x, y, dy and dx are float32 or bfloat16 (one type per launch); statistics, gamma, beta and their
 * gradients are float32.
 *
 * Forward takes two passes over the group for the statistics (mean, then the sum of squared deviations:
 * no cancellation) and one to write y; the group stays in L2. Where a channel's H*W is a multiple of 8,
 * every pass loads eight elements at a time. With SiLU, y = silu(xhat * gamma + beta);
 * backward recomputes the pre-activation from x and the statistics instead of saving it.
 * Backward: each warp sums dy' and dy'*xhat over the channels it owns (dy' the gradient before SiLU) into
 * shared memory and into per-(sample, channel) sums; the block then writes dx, and a second small kernel
 * sums over the batch for dgamma and dbeta (deterministic, no atomics).
 */
import type { ArgKind, KernelModule } from '../context.js';
import { COMMON, FLOAT_TYPES } from './common.js';

const SOURCE = COMMON + String.raw`
// The formulas of the unary silu kernels (elementwise.ts), so fused and unfused agree.
__device__ __forceinline__ float siluOf(float v) { return v / (1.0f + expf(-v)); }
__device__ __forceinline__ float siluGrad(float v) { const float s = 1.0f / (1.0f + expf(-v)); return s * (1.0f + v * (1.0f - s)); }

extern "C" __global__ void group_norm_param_grads(const float* sums, float* dgamma, float* dbeta, int n, int c) {
  GRID_STRIDE(ch, c) {
    double a = 0.0, b = 0.0;
    for (int k = 0; k < n; ++k) { a += sums[((i64)k * c + ch) * 2]; b += sums[((i64)k * c + ch) * 2 + 1]; }
    dbeta[ch] = (float)a;
    dgamma[ch] = (float)b;
  }
}
`;

// The kernels' bodies are templates over the layout: CL = false reads the group as one contiguous run
// (NCHW), CL = true as cpg channels of each of the hw pixels, c apart (NHWC). Element e of the group is
// pixel e / cpg, channel e % cpg channels last; channel e / hw, pixel e % hw in NCHW.
const perType = (S: string, T: string): string => String.raw`
template <bool CL> __device__ __forceinline__ void group_norm_forward_body_${S}(const ${T}* x, const float* gamma, const float* beta, ${T}* y,
    float* mean, float* rstd, int c, int hw, int groups, float eps, int silu) {
  __shared__ float sh[32];
  const int s = blockIdx.x;
  const int cpg = c / groups;
  const int count = cpg * hw;
  const int c0 = (s % groups) * cpg;
  // The group's first element; channels last its elements are c apart per pixel.
  const i64 base = CL ? (i64)(s / groups) * hw * c + c0 : (i64)s * count;
  const ${T}* xs = x + base;
  ${T}* ys = y + base;
  // eight elements a load: all of one channel in NCHW (a channel's row a multiple of 8 long), eight
  // channels of one pixel channels last (groups of a multiple of 8 channels)
  const bool wide = CL ? cpg % 8 == 0 && c % 8 == 0 : hw % 8 == 0;
  const int w = wide && aligned16(x) && aligned16(y) ? 8 : 1;
  #define GN_AT(e) (CL ? (i64)((e) / cpg) * c + (e) % cpg : (i64)(e))
  float acc = 0.0f;
  for (int e = threadIdx.x * w; e < count; e += blockDim.x * w) {
    float v[8];
    ldn(xs, GN_AT(e), w, v);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) acc += v[k];
  }
  const float mu = blockSum(acc, sh) / (float)count;
  acc = 0.0f;
  for (int e = threadIdx.x * w; e < count; e += blockDim.x * w) {
    float v[8];
    ldn(xs, GN_AT(e), w, v);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) { const float d = v[k] - mu; acc += d * d; }
  }
  const float r = rsqrtf(blockSum(acc, sh) / (float)count + eps);
  if (threadIdx.x == 0) { mean[s] = mu; rstd[s] = r; }
  for (int e = threadIdx.x * w; e < count; e += blockDim.x * w) {
    const int ch = c0 + (CL ? e % cpg : e / hw);
    const float scale = r * gamma[ch], shift = beta[ch] - mu * scale;
    float v[8];
    ldn(xs, GN_AT(e), w, v);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) {
      // channels last the eight are eight channels; in NCHW one
      const float sc = CL ? r * gamma[ch + k] : scale, sf = CL ? beta[ch + k] - mu * sc : shift;
      const float u = v[k] * sc + sf;
      v[k] = silu ? siluOf(u) : u;
    }
    stn(ys, GN_AT(e), w, v);
  }
  #undef GN_AT
}

extern "C" __global__ void group_norm_forward_${S}(const ${T}* x, const float* gamma, const float* beta, ${T}* y,
    float* mean, float* rstd, int c, int hw, int groups, float eps, int silu) {
  group_norm_forward_body_${S}<false>(x, gamma, beta, y, mean, rstd, c, hw, groups, eps, silu);
}

extern "C" __global__ void group_norm_forward_nhwc_${S}(const ${T}* x, const float* gamma, const float* beta, ${T}* y,
    float* mean, float* rstd, int c, int hw, int groups, float eps, int silu) {
  group_norm_forward_body_${S}<true>(x, gamma, beta, y, mean, rstd, c, hw, groups, eps, silu);
}

// The gradient through the norm (and SiLU) from the group's per-channel sums chSums [2 * cpg] of dy' and
// dy' * xhat, written to dx.
template <bool CL> __device__ __forceinline__ void group_norm_dx_${S}(const ${T}* xs, const ${T}* dys, ${T}* dxs, const float* gamma,
    const float* beta, const float* chSums, float* totals, float mu, float r, int c, int hw, int cpg, int c0, int w, int silu) {
  const int count = cpg * hw;
  if (threadIdx.x == 0) {
    float gSum = 0.0f, gXhatSum = 0.0f;
    for (int cg = 0; cg < cpg; ++cg) { gSum += gamma[c0 + cg] * chSums[cg]; gXhatSum += gamma[c0 + cg] * chSums[cpg + cg]; }
    totals[0] = gSum / (float)count;
    totals[1] = gXhatSum / (float)count;
  }
  __syncthreads();
  const float gMean = totals[0], gXhatMean = totals[1];
  for (int e = threadIdx.x * w; e < count; e += blockDim.x * w) {
    const int ch = c0 + (CL ? e % cpg : e / hw);
    const i64 at = CL ? (i64)(e / cpg) * c + e % cpg : (i64)e;
    float v[8], g[8];
    ldn(xs, at, w, v);
    ldn(dys, at, w, g);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) {
      const int chk = CL ? ch + k : ch;
      const float gm = gamma[chk], bt = beta[chk];
      const float xhat = (v[k] - mu) * r;
      const float gk = silu ? g[k] * siluGrad(xhat * gm + bt) : g[k];
      v[k] = r * (gk * gm - gMean - xhat * gXhatMean);
    }
    stn(dxs, at, w, v);
  }
}

// sums: [n, c, 2] of (sum dy', sum dy'*xhat) per sample and channel. Dynamic shared memory: 2 * cpg floats.
extern "C" __global__ void group_norm_backward_${S}(const ${T}* x, const float* gamma, const float* beta, const float* mean,
    const float* rstd, const ${T}* dy, ${T}* dx, float* sums, int c, int hw, int groups, int silu) {
  extern __shared__ float chSums[];
  __shared__ float totals[2];
  const int s = blockIdx.x;
  const int n = s / groups;
  const int cpg = c / groups;
  const int c0 = (s % groups) * cpg;
  const int count = cpg * hw;
  const float mu = mean[s], r = rstd[s];
  const ${T}* xs = x + (i64)s * count;
  const ${T}* dys = dy + (i64)s * count;
  ${T}* dxs = dx + (i64)s * count;
  const int w = hw % 8 == 0 && aligned16(x) && aligned16(dy) && aligned16(dx) ? 8 : 1;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  for (int cg = warp; cg < cpg; cg += warps) {
    const int ch = c0 + cg;
    const float gm = gamma[ch], bt = beta[ch];
    float a = 0.0f, b = 0.0f;
    for (int e = cg * hw + lane * w; e < (cg + 1) * hw; e += 32 * w) {
      float v[8], g[8];
      ldn(xs, e, w, v);
      ldn(dys, e, w, g);
      #pragma unroll
      for (int k = 0; k < 8; ++k) if (k < w) {
        const float xhat = (v[k] - mu) * r;
        const float gk = silu ? g[k] * siluGrad(xhat * gm + bt) : g[k];
        a += gk;
        b += gk * xhat;
      }
    }
    for (int o = 16; o > 0; o >>= 1) { a += __shfl_xor_sync(0xffffffffu, a, o); b += __shfl_xor_sync(0xffffffffu, b, o); }
    if (lane == 0) {
      chSums[cg] = a;
      chSums[cpg + cg] = b;
      sums[((i64)n * c + ch) * 2] = a;
      sums[((i64)n * c + ch) * 2 + 1] = b;
    }
  }
  __syncthreads();
  group_norm_dx_${S}<false>(xs, dys, dxs, gamma, beta, chSums, totals, mu, r, c, hw, cpg, c0, w, silu);
}

// Channels last: thread t owns channel chunk t % chunks (w channels, chunks = cpg / w) of the pixels
// t / chunks, t / chunks + blockDim / chunks, ... and keeps its w partial sums in shared memory; each warp
// then adds one channel's partials in a fixed order (deterministic). Needs chunks <= blockDim. Dynamic
// shared memory: 2 * cpg + 2 * 8 * blockDim floats.
extern "C" __global__ void group_norm_backward_nhwc_${S}(const ${T}* x, const float* gamma, const float* beta, const float* mean,
    const float* rstd, const ${T}* dy, ${T}* dx, float* sums, int c, int hw, int groups, int silu) {
  extern __shared__ float smem[];
  __shared__ float totals[2];
  const int s = blockIdx.x;
  const int n = s / groups;
  const int cpg = c / groups;
  float* chSums = smem;
  float* partA = smem + 2 * cpg;
  float* partB = partA + 8 * blockDim.x;
  const int c0 = (s % groups) * cpg;
  const float mu = mean[s], r = rstd[s];
  const i64 base = (i64)n * hw * c + c0;
  const ${T}* xs = x + base;
  const ${T}* dys = dy + base;
  ${T}* dxs = dx + base;
  const int w = cpg % 8 == 0 && c % 8 == 0 && aligned16(x) && aligned16(dy) && aligned16(dx) ? 8 : 1;
  const int chunks = cpg / w, pixelStride = blockDim.x / chunks;
  const int q = threadIdx.x % chunks, p0 = threadIdx.x / chunks;
  float a[8], b[8];
  #pragma unroll
  for (int k = 0; k < 8; ++k) { a[k] = 0.0f; b[k] = 0.0f; }
  if (p0 < pixelStride) {
    for (int p = p0; p < hw; p += pixelStride) {
      const i64 at = (i64)p * c + q * w;
      float v[8], g[8];
      ldn(xs, at, w, v);
      ldn(dys, at, w, g);
      #pragma unroll
      for (int k = 0; k < 8; ++k) if (k < w) {
        const int ch = c0 + q * w + k;
        const float xhat = (v[k] - mu) * r;
        const float gk = silu ? g[k] * siluGrad(xhat * gamma[ch] + beta[ch]) : g[k];
        a[k] += gk;
        b[k] += gk * xhat;
      }
    }
  }
  #pragma unroll
  for (int k = 0; k < 8; ++k) { partA[threadIdx.x * 8 + k] = a[k]; partB[threadIdx.x * 8 + k] = b[k]; }
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  for (int cg = warp; cg < cpg; cg += warps) {
    float sa = 0.0f, sb = 0.0f;
    for (int pp = lane; pp < pixelStride; pp += 32) {
      const int t = pp * chunks + cg / w;
      sa += partA[t * 8 + cg % w];
      sb += partB[t * 8 + cg % w];
    }
    for (int o = 16; o > 0; o >>= 1) { sa += __shfl_xor_sync(0xffffffffu, sa, o); sb += __shfl_xor_sync(0xffffffffu, sb, o); }
    if (lane == 0) {
      chSums[cg] = sa;
      chSums[cpg + cg] = sb;
      sums[((i64)n * c + c0 + cg) * 2] = sa;
      sums[((i64)n * c + c0 + cg) * 2 + 1] = sb;
    }
  }
  __syncthreads();
  group_norm_dx_${S}<true>(xs, dys, dxs, gamma, beta, chSums, totals, mu, r, c, hw, cpg, c0, w, silu);
}
`;

const kernels: Record<string, readonly ArgKind[]> = { group_norm_param_grads: ['ptr', 'ptr', 'ptr', 'i32', 'i32'] };
for (const [S] of FLOAT_TYPES) {
  for (const layout of ['', 'nhwc_']) {
    kernels[`group_norm_forward_${layout}${S}`] = ['ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'i32', 'i32', 'i32', 'f32', 'i32'];
    kernels[`group_norm_backward_${layout}${S}`] = ['ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'i32', 'i32', 'i32', 'i32'];
  }
}

export const GROUP_NORM: KernelModule = {
  name: 'groupnorm.cu',
  source: SOURCE + FLOAT_TYPES.map(([S, T]) => perType(S, T)).join(''),
  kernels,
};
