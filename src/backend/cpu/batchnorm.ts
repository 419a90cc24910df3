/**
 * Batch norm in eval form (see BatchNormParams), forward only: per channel one scale and shift in float64,
 * y = (x - mean) * (gamma / sqrt(var + eps)) + beta, then ReLU when asked.
 */
import type { BatchNormParams } from '../backend.js';

export function batchNormEval(x: Float32Array, mean: Float32Array, variance: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, p: BatchNormParams): void {
  const { n, c, hw } = p;
  for (let ch = 0; ch < c; ch++) {
    const scale = gamma[ch] / Math.sqrt(variance[ch] + p.eps);
    const m = mean[ch];
    const b = beta[ch];
    for (let i = 0; i < n; i++) {
      const start = (i * c + ch) * hw;
      for (let j = start; j < start + hw; j++) {
        const v = (x[j] - m) * scale + b;
        y[j] = p.relu && v < 0 ? 0 : v;
      }
    }
  }
}
