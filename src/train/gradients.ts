/** Gradient hygiene between backward and the optimizer step. */
import * as T from '../tensor/index.js';

const spans = (grads: readonly T.Tensor[]) => grads.map((g) => ({ buf: g.buffer, length: g.size }));

/**
 * EDM's torch.nan_to_num(grad, nan=0, posinf=1e5, neginf=-1e5) on every gradient, in one backend call. It
 * runs whether or not a gradient is non-finite (on finite values it changes nothing), because asking first
 * would wait for the device. Returns a float32 flag [1], 1 where something was repaired: reading it waits
 * for the device, so the caller reads it where it waits anyway.
 */
export function repairGradients(grads: readonly T.Tensor[]): T.Tensor {
  const found = T.zeros([1], 'float32', grads[0]?.backend);
  if (grads.length > 0) grads[0].backend.nanToNumMany(spans(grads), 1e5, found.buffer);
  return found;
}

/** Global L2 norm of the gradients: one backend call and one download for all parameters. */
function globalNorm(grads: readonly T.Tensor[]): number {
  if (grads.length === 0) return 0;
  const sums = T.tidy(() => {
    const out = T.empty([grads.length], 'float32', grads[0].backend);
    grads[0].backend.sumSquaresMany(spans(grads), out.buffer);
    return out.toFloat32Array();
  });
  // the parameters' sums added in float32, in order (as adding one scalar tensor per parameter does)
  let total = sums[0];
  for (let i = 1; i < sums.length; i++) total = Math.fround(total + sums[i]);
  return Math.sqrt(total);
}

/** torch.nn.utils.clip_grad_norm_: scales the gradients down to a global L2 norm of `maxNorm`; returns the norm before. */
export function clipGradients(grads: readonly T.Tensor[], maxNorm: number): number {
  const norm = globalNorm(grads);
  const scale = maxNorm / (norm + 1e-6);
  if (scale < 1 && grads.length > 0) grads[0].backend.scaleMany(spans(grads), scale);
  return norm;
}
