/**
 * Row softmax and its backward for attention: the score matrices come from cuBLASLt (already scaled by
 * 1/sqrt(C)); these kernels work in place on rows of length L, one warp per row, in fp32 with the row max
 * subtracted, as src/backend/cpu/attention.ts.
 */
import type { KernelModule } from '../context.js';
import { COMMON } from './common.js';

const SOURCE = COMMON + String.raw`
__device__ __forceinline__ float warpSum(float v) { for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o); return v; }
__device__ __forceinline__ float warpMax(float v) { for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o)); return v; }

extern "C" __global__ void softmax_rows(float* w, i64 rows, int l) {
  const i64 row = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  float* p = w + row * l;
  float m = NEG_INF;
  for (int j = lane; j < l; j += 32) m = fmaxf(m, p[j]);
  m = warpMax(m);
  float s = 0.0f;
  for (int j = lane; j < l; j += 32) { const float e = expf(p[j] - m); p[j] = e; s += e; }
  const float inv = 1.0f / warpSum(s);
  for (int j = lane; j < l; j += 32) p[j] *= inv;
}

// ds <- w * (ds - rowsum(w * ds))
extern "C" __global__ void softmax_rows_backward(const float* w, float* ds, i64 rows, int l) {
  const i64 row = (i64)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* wp = w + row * l;
  float* dp = ds + row * l;
  float dot = 0.0f;
  for (int j = lane; j < l; j += 32) dot += wp[j] * dp[j];
  dot = warpSum(dot);
  for (int j = lane; j < l; j += 32) dp[j] = wp[j] * (dp[j] - dot);
}
`;

export const SOFTMAX: KernelModule = {
  name: 'softmax.cu',
  source: SOURCE,
  kernels: {
    softmax_rows: ['ptr', 'i64', 'i32'],
    softmax_rows_backward: ['ptr', 'ptr', 'i64', 'i32'],
  },
};
