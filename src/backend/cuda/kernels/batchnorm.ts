/**
 * Batch norm in eval form, forward only, as src/backend/cpu/batchnorm.ts: y = (x - mean) * gamma /
 * sqrt(var + eps) + beta per channel, then ReLU when asked. One thread per element; statistics float32.
 */
import type { ArgKind, KernelModule } from '../context.js';
import { COMMON, FLOAT_TYPES } from './common.js';

const perType = (S: string, T: string): string => String.raw`
extern "C" __global__ void batch_norm_eval_${S}(const ${T}* x, const float* mean, const float* var, const float* gamma, const float* beta, ${T}* y, i64 n, int c, i64 hw, float eps, int relu) {
  GRID_STRIDE(i, n) {
    const int ch = (int)((i / hw) % c);
    const float v = (ld(x, i) - mean[ch]) * (gamma[ch] / sqrtf(var[ch] + eps)) + beta[ch];
    st(y, i, relu && v < 0.0f ? 0.0f : v);
  }
}
`;

const kernels: Record<string, readonly ArgKind[]> = {};
for (const [S] of FLOAT_TYPES) kernels[`batch_norm_eval_${S}`] = ['ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'ptr', 'i64', 'i32', 'i64', 'f32', 'i32'];

export const BATCH_NORM: KernelModule = { name: 'batchnorm.cu', source: COMMON + FLOAT_TYPES.map(([S, T]) => perType(S, T)).join(''), kernels };
