/**
 * GroupNorm forward and backward, optionally fused with the SiLU that follows every norm of a U-Net block,
 * as src/backend/cpu/groupnorm.ts: one block per (sample, group), whose cpg*hw elements are contiguous in
 * NCHW. x, y, dy and dx are float32 or bfloat16 (one type per launch); statistics, gamma, beta and their
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

const perType = (S: string, T: string): string => String.raw`
extern "C" __global__ void group_norm_forward_${S}(const ${T}* x, const float* gamma, const float* beta, ${T}* y,
    float* mean, float* rstd, int c, int hw, int groups, float eps, int silu) {
  __shared__ float sh[32];
  const int s = blockIdx.x;
  const int cpg = c / groups;
  const int count = cpg * hw;
  const ${T}* xs = x + (i64)s * count;
  ${T}* ys = y + (i64)s * count;
  // eight elements a load, all of one channel, where a channel's row is a multiple of 8 long
  const int w = hw % 8 == 0 && aligned16(x) && aligned16(y) ? 8 : 1;
  float acc = 0.0f;
  for (int e = threadIdx.x * w; e < count; e += blockDim.x * w) {
    float v[8];
    ldn(xs, e, w, v);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) acc += v[k];
  }
  const float mu = blockSum(acc, sh) / (float)count;
  acc = 0.0f;
  for (int e = threadIdx.x * w; e < count; e += blockDim.x * w) {
    float v[8];
    ldn(xs, e, w, v);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) { const float d = v[k] - mu; acc += d * d; }
  }
  const float r = rsqrtf(blockSum(acc, sh) / (float)count + eps);
  if (threadIdx.x == 0) { mean[s] = mu; rstd[s] = r; }
  const int c0 = (s % groups) * cpg;
  for (int e = threadIdx.x * w; e < count; e += blockDim.x * w) {
    const int ch = c0 + e / hw;
    const float scale = r * gamma[ch], shift = beta[ch] - mu * scale;
    float v[8];
    ldn(xs, e, w, v);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) { const float u = v[k] * scale + shift; v[k] = silu ? siluOf(u) : u; }
    stn(ys, e, w, v);
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
  if (threadIdx.x == 0) {
    float gSum = 0.0f, gXhatSum = 0.0f;
    for (int cg = 0; cg < cpg; ++cg) { gSum += gamma[c0 + cg] * chSums[cg]; gXhatSum += gamma[c0 + cg] * chSums[cpg + cg]; }
    totals[0] = gSum / (float)count;
    totals[1] = gXhatSum / (float)count;
  }
  __syncthreads();
  const float gMean = totals[0], gXhatMean = totals[1];
  for (int e = threadIdx.x * w; e < count; e += blockDim.x * w) {
    const int ch = c0 + e / hw;
    const float gm = gamma[ch], bt = beta[ch];
    float v[8], g[8];
    ldn(xs, e, w, v);
    ldn(dys, e, w, g);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) {
      const float xhat = (v[k] - mu) * r;
      const float gk = silu ? g[k] * siluGrad(xhat * gm + bt) : g[k];
      v[k] = r * (gk * gm - gMean - xhat * gXhatMean);
    }
    stn(dxs, e, w, v);
  }
}
`;

const kernels: Record<string, readonly ArgKind[]> = { group_norm_param_grads: ['ptr', 'ptr', 'ptr', 'i32', 'i32'] };
for (const [S] of FLOAT_TYPES) {
  kernels[`group_norm_forward_${S}`] = ['ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'i32', 'i32', 'i32', 'f32', 'i32'];
  kernels[`group_norm_backward_${S}`] = ['ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'i32', 'i32', 'i32', 'i32'];
}

export const GROUP_NORM: KernelModule = {
  name: 'groupnorm.cu',
  source: SOURCE + FLOAT_TYPES.map(([S, T]) => perType(S, T)).join(''),
  kernels,
};
