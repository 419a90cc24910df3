/**
 * Multistep DPM-Solver++(2M) (Lu et al. 2022b), the data-prediction solver LDM samples with. In EDM's variables
 * (x / alpha_t, lambda = -ln sigma) the update from the previous level p0 to t, with h = lambda_t - lambda_p0,
 * is
 *   x_t = (sigma_t / sigma_p0) x - (e^-h - 1) (D_p0 + (D_p0 - D_p1) / (2 r0)),   r0 = (lambda_p0 - lambda_p1) / h,
 * reusing the previous evaluation D_p1; the first step has no previous one and is first order (DDIM). As in
 * the official code, runs of fewer than 10 steps also take their last step at first order (lower_order_final),
 * which steadies very short runs. One evaluation per step.
 */
import * as T from '../../tensor/index.js';
import type { Tensor } from '../../tensor/index.js';
import type { Evaluator } from './evaluator.js';
import { type VPGridOptions, checkSteps, vpGrid, vpPrior, vpTimeSteps } from './time-steps.js';
import { advance, combine } from './update.js';

export interface DPMSolverPlusPlusOptions extends VPGridOptions {
  lowerOrderFinal?: boolean;
}

export function dpmSolverPlusPlusSample(ev: Evaluator, latents: Tensor, steps: number, options: DPMSolverPlusPlusOptions): Tensor {
  checkSteps(steps, 'DPM-Solver++');
  const grid = vpGrid(options, 'time-uniform');
  const lowerOrderFinal = options.lowerOrderFinal ?? true;
  const sigmas = Array.from(vpTimeSteps(grid, grid.tStart, grid.tEnd, steps), (t) => grid.schedule.sigma(t));
  let x = vpPrior(latents, sigmas[0]);
  let previous: Tensor | null = null;
  let current = T.tidy(() => ev.denoise(x, sigmas[0]));
  for (let i = 1; i <= steps; i++) {
    const [sP1, sP0, sT] = [sigmas[i - 2], sigmas[i - 1], sigmas[i]];
    const h = Math.log(sP0 / sT);
    const phi = Math.expm1(-h);
    const secondOrder = previous !== null && !(lowerOrderFinal && steps < 10 && i === steps);
    const dPrev = previous;
    const dCur = current;
    x = advance(x, () => {
      if (!secondOrder) return combine([sT / sP0, x], [-phi, dCur]);
      const r0 = Math.log(sP1 / sP0) / h;
      return combine([sT / sP0, x], [-phi * (1 + 0.5 / r0), dCur], [phi * (0.5 / r0), dPrev!]);
    });
    previous?.dispose();
    previous = current;
    // The final level needs no evaluation.
    if (i < steps) current = T.tidy(() => ev.denoise(x, sT));
  }
  previous?.dispose();
  return x;
}
