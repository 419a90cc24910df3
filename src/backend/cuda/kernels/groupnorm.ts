/**
 * GroupNorm forward and backward, as src/backend/cpu/groupnorm.ts: one block per (sample, group), whose
 * cpg*hw elements are contiguous in NCHW. Forward takes two passes over the group for the statistics
 * (mean, then the sum of squared deviations: no cancellation) and one to write y; the group stays in L2.
 * Backward writes per-(sample, channel) sums of dy and dy*xhat, uses them for dx in the same block, and a
 * second small kernel sums them over the batch for dgamma and dbeta (deterministic, no atomics).
 */
import type { KernelModule } from '../context.js';
import { COMMON } from './common.js';

const SOURCE = COMMON + String.raw`
extern "C" __global__ void group_norm_forward(const float* x, const float* gamma, const float* beta, float* y,
    float* mean, float* rstd, int c, int hw, int groups, float eps) {
  __shared__ float sh[32];
  const int s = blockIdx.x;
  const int cpg = c / groups;
  const i64 count = (i64)cpg * hw;
  const float* xs = x + (i64)s * count;
  float acc = 0.0f;
  for (i64 e = threadIdx.x; e < count; e += blockDim.x) acc += xs[e];
  const float mu = blockSum(acc, sh) / (float)count;
  acc = 0.0f;
  for (i64 e = threadIdx.x; e < count; e += blockDim.x) { const float d = xs[e] - mu; acc += d * d; }
  const float r = rsqrtf(blockSum(acc, sh) / (float)count + eps);
  if (threadIdx.x == 0) { mean[s] = mu; rstd[s] = r; }
  const int c0 = (s % groups) * cpg;
  float* ys = y + (i64)s * count;
  for (i64 e = threadIdx.x; e < count; e += blockDim.x) {
    const int ch = c0 + (int)(e / hw);
    const float scale = r * gamma[ch];
    ys[e] = xs[e] * scale + (beta[ch] - mu * scale);
  }
}

// sums: [n, c, 2] of (sum dy, sum dy*xhat) per sample and channel.
extern "C" __global__ void group_norm_backward(const float* x, const float* gamma, const float* mean, const float* rstd,
    const float* dy, float* dx, float* sums, int c, int hw, int groups) {
  __shared__ float sh[32];
  const int s = blockIdx.x;
  const int n = s / groups;
  const int cpg = c / groups;
  const int c0 = (s % groups) * cpg;
  const i64 count = (i64)cpg * hw;
  const float mu = mean[s], r = rstd[s];
  const float* xs = x + (i64)s * count;
  const float* dys = dy + (i64)s * count;
  float gSum = 0.0f, gXhatSum = 0.0f;
  for (int cg = 0; cg < cpg; ++cg) {
    float a = 0.0f, b = 0.0f;
    for (int e = threadIdx.x; e < hw; e += blockDim.x) {
      const i64 i = (i64)cg * hw + e;
      const float g = dys[i];
      a += g;
      b += g * (xs[i] - mu) * r;
    }
    a = blockSum(a, sh);
    b = blockSum(b, sh);
    const int ch = c0 + cg;
    if (threadIdx.x == 0) { sums[((i64)n * c + ch) * 2] = a; sums[((i64)n * c + ch) * 2 + 1] = b; }
    gSum += gamma[ch] * a;
    gXhatSum += gamma[ch] * b;
  }
  const float gMean = gSum / (float)count, gXhatMean = gXhatSum / (float)count;
  float* dxs = dx + (i64)s * count;
  for (i64 e = threadIdx.x; e < count; e += blockDim.x) {
    const int ch = c0 + (int)(e / hw);
    const float xhat = (xs[e] - mu) * r;
    dxs[e] = r * (dys[e] * gamma[ch] - gMean - xhat * gXhatMean);
  }
}

extern "C" __global__ void group_norm_param_grads(const float* sums, float* dgamma, float* dbeta, int n, int c) {
  GRID_STRIDE(ch, c) {
    double a = 0.0, b = 0.0;
    for (int k = 0; k < n; ++k) { a += sums[((i64)k * c + ch) * 2]; b += sums[((i64)k * c + ch) * 2 + 1]; }
    dbeta[ch] = (float)a;
    dgamma[ch] = (float)b;
  }
}
`;

export const GROUP_NORM: KernelModule = {
  name: 'groupnorm.cu',
  source: SOURCE,
  kernels: {
    group_norm_forward: ['ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'i32', 'i32', 'i32', 'f32'],
    group_norm_backward: ['ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'i32', 'i32', 'i32'],
    group_norm_param_grads: ['ptr', 'ptr', 'ptr', 'i32', 'i32'],
  },
};
