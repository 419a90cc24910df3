/**
 * Class-conditional sampling and classifier-free guidance (Ho & Salimans 2022), as EDM2 and diffusers
 * apply it: D = D_uncond + w (D_cond - D_uncond), where D_uncond sees all-zero labels (what label dropout
 * trains). w = 1 is plain conditional sampling (one evaluation); w > 1 sharpens the class; w = 0 ignores it.
 */
import * as T from '../tensor/index.js';
import type { Tensor } from '../tensor/index.js';
import type { Denoiser } from './denoiser.js';

/** One-hot labels [classes.length, numClasses] of class indices. */
export function oneHot(classes: ArrayLike<number>, numClasses: number, backend = T.getBackend()): Tensor {
  if (!Number.isInteger(numClasses) || numClasses < 1) throw new Error(`the number of classes must be a positive integer, got ${numClasses}`);
  const out = new Float32Array(classes.length * numClasses);
  for (let i = 0; i < classes.length; i++) {
    const c = classes[i];
    if (!Number.isInteger(c) || c < 0 || c >= numClasses) throw new Error(`class ${c} is not one of the model's ${numClasses} classes (0 to ${numClasses - 1})`);
    out[i * numClasses + c] = 1;
  }
  return T.fromArray(out, [classes.length, numClasses], 'float32', backend);
}

/** The denoiser conditioned on `labels` [B, classes] with guidance weight `w`. */
export function guidedDenoiser(model: Denoiser, labels: Tensor, w: number): Denoiser {
  if (!Number.isFinite(w)) throw new Error(`the guidance weight must be a finite number, got ${w}`);
  return (x, sigma) => {
    const conditional = model(x, sigma, labels);
    if (w === 1) return conditional;
    const unconditional = model(x, sigma, null);
    return T.add(unconditional, T.mulScalar(T.sub(conditional, unconditional), w));
  };
}
