/**
 * Adam/AdamW, PyTorch's formula as src/backend/cpu/adam.ts: m and v updated, bias-corrected step, eps
 * outside the square root, decoupled weight decay. The per-step scalars are computed on the host, and each
 * element's update in double as the CPU reference does (the kernel is memory-bound: double costs nothing),
 * so a single-element tensor agrees to rounding too.
 *
 * adam_multi updates many parameter tensors in one launch: a device table of (param, grad, m, v, length)
 * records; blockIdx.y picks the tensor, blockIdx.x strides over its elements.
 */
import type { KernelModule } from '../context.js';
import { COMMON } from './common.js';

const SOURCE = COMMON + String.raw`
__device__ __forceinline__ void adamStep(float* p, const float* g, float* m, float* v, i64 i,
    double beta1, double beta2, double stepSize, double bc2Sqrt, double eps, double decay) {
  const double gi = g[i];
  const float mi = (float)(beta1 * m[i] + (1.0 - beta1) * gi);
  const float vi = (float)(beta2 * v[i] + (1.0 - beta2) * gi * gi);
  m[i] = mi;
  v[i] = vi;
  p[i] = (float)(p[i] * decay - stepSize * mi / (sqrt((double)vi) / bc2Sqrt + eps));
}

extern "C" __global__ void adam_f32(float* p, const float* g, float* m, float* v, i64 n,
    double beta1, double beta2, double stepSize, double bc2Sqrt, double eps, double decay) {
  GRID_STRIDE(i, n) adamStep(p, g, m, v, i, beta1, beta2, stepSize, bc2Sqrt, eps, decay);
}

struct AdamEntry { float* p; const float* g; float* m; float* v; i64 n; };

extern "C" __global__ void adam_multi_f32(const AdamEntry* table, double beta1, double beta2, double stepSize, double bc2Sqrt, double eps, double decay) {
  const AdamEntry e = table[blockIdx.y];
  for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < e.n; i += (i64)gridDim.x * blockDim.x)
    adamStep(e.p, e.g, e.m, e.v, i, beta1, beta2, stepSize, bc2Sqrt, eps, decay);
}
`;

export const ADAM: KernelModule = {
  name: 'adam.cu',
  source: SOURCE,
  kernels: {
    adam_f32: ['ptr', 'ptr', 'ptr', 'ptr', 'i64', 'f64', 'f64', 'f64', 'f64', 'f64', 'f64'],
    adam_multi_f32: ['ptr', 'f64', 'f64', 'f64', 'f64', 'f64', 'f64'],
  },
};
