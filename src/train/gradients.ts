/** Gradient hygiene between backward and the optimizer step. */
import * as T from '../tensor/index.js';

/** Global L2 norm of the gradients, with one download for all parameters. */
function globalNorm(grads: readonly T.Tensor[]): number {
  if (grads.length === 0) return 0;
  return Math.sqrt(T.noGrad(() => T.tidy(() => grads.map((g) => T.sum(T.square(g))).reduce((a, b) => T.add(a, b)).item())));
}

/**
 * EDM's torch.nan_to_num(grad, nan=0, posinf=1e5, neginf=-1e5) when any gradient is not finite, then
 * (with `maxNorm`) torch.nn.utils.clip_grad_norm_. Returns the norm before clipping and whether a repair
 * was needed.
 */
export function prepareGradients(params: readonly T.Tensor[], maxNorm: number | null): { norm: number; repaired: boolean } {
  const grads = params.map((p) => p.grad).filter((g): g is T.Tensor => g !== null);
  let norm = globalNorm(grads);
  const repaired = !Number.isFinite(norm);
  if (repaired) {
    for (const g of grads) g.backend.nanToNum(g.buffer, g.size, 1e5);
    norm = globalNorm(grads);
  }
  if (maxNorm !== null) {
    const scale = maxNorm / (norm + 1e-6);
    if (scale < 1) for (const g of grads) g.backend.affine(g.buffer, g.buffer, g.size, scale, 0);
  }
  return { norm, repaired };
}
