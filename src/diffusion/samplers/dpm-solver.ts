/**
 * Singlestep DPM-Solver (Lu et al. 2022) of order 1, 2 or 3 with noise prediction. In EDM's variables
 * (x / alpha_t and sigma, lambda = -ln sigma, h = lambda_t - lambda_s) its updates from s to t read
 *   order 1:  x_t = x_s - sigma_t (e^h - 1) eps_s                                   (DDIM)
 *   order 2:  x_t = x_s - sigma_t (e^h - 1) eps_s - sigma_t (e^h - 1) / (2 r1) (eps_s1 - eps_s)
 *   order 3:  x_t = x_s - sigma_t (e^h - 1) eps_s - sigma_t ((e^h - 1) / h - 1) / r2 (eps_s2 - eps_s)
 * with intermediate points s1, s2 at lambda_s + r h, reached by the lower-order updates; this is the official
 * code's algebra divided by alpha_t. `method: 'fast'` spends exactly `steps` evaluations by mixing orders as
 * the official 'singlestep' method ("DPM-Solver-fast"); `'fixed'` takes steps / order steps of one order.
 */
import type { Tensor } from '../../tensor/index.js';
import type { Evaluator } from './evaluator.js';
import { type VPGrid, type VPGridOptions, checkSteps, vpGrid, vpPrior, vpTimeSteps } from './time-steps.js';
import { advance, combine } from './update.js';

export interface DPMSolverOptions extends VPGridOptions {
  order?: number;
  method?: 'fast' | 'fixed';
}

export function dpmSolverSample(ev: Evaluator, latents: Tensor, steps: number, options: DPMSolverOptions): Tensor {
  const { order = 3, method = 'fast' } = options;
  checkSteps(steps, 'DPM-Solver');
  if (order !== 1 && order !== 2 && order !== 3) throw new Error(`DPM-Solver order must be 1, 2 or 3, got ${order}`);
  if (method !== 'fast' && method !== 'fixed') throw new Error(`DPM-Solver method must be 'fast' or 'fixed', got '${method}'`);
  const grid = vpGrid(options, 'logSNR');
  const { times, orders } = method === 'fast' ? fastSchedule(grid, steps, order) : fixedSchedule(grid, steps, order);
  let x = vpPrior(latents, grid.schedule.sigma(times[0]));
  orders.forEach((o, i) => {
    const sigmas = Array.from(vpTimeSteps(grid, times[i], times[i + 1], o), (t) => grid.schedule.sigma(t));
    x = advance(x, () => singlestepUpdate(ev, x, sigmas));
  });
  return x;
}

/**
 * One update from sigmas[0] to sigmas[order] through the intermediate levels between them; its order is
 * sigmas.length - 1.
 */
function singlestepUpdate(ev: Evaluator, x: Tensor, sigmas: number[]): Tensor {
  const order = sigmas.length - 1;
  const [s, sT] = [sigmas[0], sigmas[order]];
  const h = Math.log(s / sT);
  const phi1 = Math.expm1(h);
  const eps = ev.epsilon(x, s);
  if (order === 1) return combine([1, x], [-sT * phi1, eps]);
  const s1 = sigmas[1];
  const r1 = Math.log(s / s1) / h;
  const x1 = combine([1, x], [-s1 * Math.expm1(r1 * h), eps]);
  const eps1 = ev.epsilon(x1, s1);
  if (order === 2) return combine([1, x], [-sT * phi1 * (1 - 0.5 / r1), eps], [-sT * phi1 * (0.5 / r1), eps1]);
  const s2 = sigmas[2];
  const r2 = Math.log(s / s2) / h;
  const phi22 = Math.expm1(r2 * h) / (r2 * h) - 1;
  const x2 = combine([1, x], [-s2 * Math.expm1(r2 * h) + (r2 / r1) * s2 * phi22, eps], [-(r2 / r1) * s2 * phi22, eps1]);
  const eps2 = ev.epsilon(x2, s2);
  const phi2 = phi1 / h - 1;
  return combine([1, x], [-sT * phi1 + (sT * phi2) / r2, eps], [-(sT * phi2) / r2, eps2]);
}

/** The official "DPM-Solver-fast" split of `steps` evaluations into orders, and the times between them. */
function fastSchedule(grid: VPGrid, steps: number, order: number): { times: Float64Array; orders: number[] } {
  let orders: number[];
  if (order === 3) {
    const k = Math.floor(steps / 3) + 1;
    orders = steps % 3 === 0 ? [...new Array<number>(k - 2).fill(3), 2, 1] : steps % 3 === 1 ? [...new Array<number>(k - 1).fill(3), 1] : [...new Array<number>(k - 1).fill(3), 2];
  } else if (order === 2) {
    orders = steps % 2 === 0 ? new Array<number>(steps / 2).fill(2) : [...new Array<number>((steps - 1) / 2).fill(2), 1];
  } else orders = new Array<number>(steps).fill(1);
  // logSNR: one uniform grid over the outer steps; otherwise the outer steps are taken from the `steps`-point
  // grid at the cumulative orders (as the official code does).
  if (grid.spacing === 'logSNR') return { times: vpTimeSteps(grid, grid.tStart, grid.tEnd, orders.length), orders };
  const fine = vpTimeSteps(grid, grid.tStart, grid.tEnd, steps);
  let at = 0;
  return { times: Float64Array.from([0, ...orders], (o) => fine[(at += o)]), orders };
}

function fixedSchedule(grid: VPGrid, steps: number, order: number): { times: Float64Array; orders: number[] } {
  if (steps % order !== 0) throw new Error(`DPM-Solver method 'fixed' of order ${order} needs steps divisible by ${order}, got ${steps}`);
  return { times: vpTimeSteps(grid, grid.tStart, grid.tEnd, steps / order), orders: new Array<number>(steps / order).fill(order) };
}
