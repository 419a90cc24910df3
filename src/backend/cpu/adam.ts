import { type AdamParams, adamStepScalars } from '../backend.js';

/** One Adam/AdamW step, PyTorch's formulation (bias-corrected, eps outside the square root). */
export function adam(param: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, n: number, p: AdamParams): void {
  const { beta1, beta2, eps } = p;
  const { stepSize, bc2Sqrt, decay } = adamStepScalars(p);
  for (let i = 0; i < n; i++) {
    const g = grad[i];
    const mi = (m[i] = beta1 * m[i] + (1 - beta1) * g);
    const vi = (v[i] = beta2 * v[i] + (1 - beta2) * g * g);
    param[i] = param[i] * decay - (stepSize * mi) / (Math.sqrt(vi) / bc2Sqrt + eps);
  }
}
