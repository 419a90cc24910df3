/**
 * DDIM (Song et al. 2021) with stochasticity eta. In EDM's variables a step from sigma_s to sigma_t is
 *   x_t = D + sqrt(sigma_t^2 - c^2) eps + c z,   c = eta sigma_t sqrt(1 - sigma_t^2 / sigma_s^2),  z ~ N(0, I),
 * where D and eps = (x - D) / sigma_s come from one evaluation at sigma_s: LDM's update divided by
 * sqrt(alpha_bar). eta = 0 is the deterministic DDIM (Euler on the probability-flow ODE in sigma); eta = 1 is
 * DDPM's ancestral sampling.
 */
import type { Tensor } from '../../tensor/index.js';
import type { NoiseSource } from '../noise-source.js';
import type { Evaluator } from './evaluator.js';
import { type VPGridOptions, checkSteps, vpGrid, vpPrior, vpTimeSteps } from './time-steps.js';
import { advance, combine } from './update.js';

export interface DDIMOptions extends VPGridOptions {
  eta?: number;
}

export function ddimSample(ev: Evaluator, latents: Tensor, steps: number, options: DDIMOptions, generator: NoiseSource): Tensor {
  checkSteps(steps, 'DDIM');
  const eta = options.eta ?? 0;
  if (!(eta >= 0) || !Number.isFinite(eta)) throw new Error(`DDIM eta must be a finite number >= 0, got ${eta}`);
  const grid = vpGrid(options, 'time-uniform');
  const sigmas = Array.from(vpTimeSteps(grid, grid.tStart, grid.tEnd, steps), (t) => grid.schedule.sigma(t));
  let x = vpPrior(latents, sigmas[0]);
  for (let i = 0; i < steps; i++) {
    const [sS, sT] = [sigmas[i], sigmas[i + 1]];
    const c = eta * sT * Math.sqrt(1 - (sT * sT) / (sS * sS));
    if (c > sT) throw new Error(`DDIM eta = ${eta} asks for more fresh noise (${c.toPrecision(4)}) than the step's noise level ${sT.toPrecision(4)}; use a smaller eta or more steps`);
    x = advance(x, () => {
      const denoised = ev.denoise(x, sS);
      const eps = combine([1 / sS, x], [-1 / sS, denoised]);
      const next = combine([1, denoised], [Math.sqrt(sT * sT - c * c), eps]);
      return c > 0 ? combine([1, next], [c, generator.normal(x.shape, x.backend)]) : next;
    });
  }
  return x;
}
