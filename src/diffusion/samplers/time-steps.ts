/**
 * Where samplers evaluate the network: EDM's rho-spaced noise levels, and DPM-Solver's time grids on a VP
 * schedule (uniform in log-SNR, in t, or in sqrt(t)), with the VP prior those grids start from. Every sampler
 * then works in EDM's sigma.
 */
import * as T from '../../tensor/index.js';
import type { Tensor } from '../../tensor/index.js';
import { LinearVPSchedule } from '../schedules/linear-vp.js';
import type { VPSchedule } from '../schedules/vp-schedule.js';

export function checkSteps(steps: number, what: string): void {
  if (!Number.isInteger(steps) || steps < 1) throw new Error(`${what}: steps must be a positive integer, got ${steps}`);
}

/**
 * EDM's noise levels sigma_i = (sigma_max^(1/rho) + i/(N-1) (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho for
 * i = 0..N-1, then sigma_N = 0 (one step goes straight from sigma_max to 0).
 */
export function edmSigmaSteps(steps: number, sigmaMin: number, sigmaMax: number, rho: number): Float64Array {
  checkSteps(steps, 'EDM sampler');
  if (!(sigmaMin > 0) || !(sigmaMax > sigmaMin) || !Number.isFinite(sigmaMax)) throw new Error(`EDM sampler needs 0 < sigma_min < sigma_max < infinity, got sigma_min = ${sigmaMin}, sigma_max = ${sigmaMax}`);
  if (!(rho > 0)) throw new Error(`EDM sampler needs rho > 0, got ${rho}`);
  const out = new Float64Array(steps + 1);
  const a = sigmaMax ** (1 / rho);
  const b = sigmaMin ** (1 / rho);
  for (let i = 0; i < steps; i++) out[i] = (a + (steps === 1 ? 0 : i / (steps - 1)) * (b - a)) ** rho;
  return out;
}

export type Spacing = 'logSNR' | 'time-uniform' | 'time-quadratic';
const SPACINGS: readonly Spacing[] = ['logSNR', 'time-uniform', 'time-quadratic'];

/** Options shared by the samplers that step on a VP time grid (DPM-Solver, DPM-Solver++, DDIM). */
export interface VPGridOptions {
  /** The schedule whose time the grid is spaced in (default: score_sde's linear VP, beta 0.1 -> 20). */
  schedule?: VPSchedule;
  spacing?: Spacing;
  /** First time (default: the schedule's T). */
  tStart?: number;
  /** Last time (default: the schedule's sampling end, 1e-3 for the linear VP, 1/N for a discrete one). */
  tEnd?: number;
}

export interface VPGrid {
  schedule: VPSchedule;
  spacing: Spacing;
  tStart: number;
  tEnd: number;
}

export function vpGrid(options: VPGridOptions, defaultSpacing: Spacing): VPGrid {
  const schedule = options.schedule ?? new LinearVPSchedule();
  const spacing = options.spacing ?? defaultSpacing;
  const tStart = options.tStart ?? schedule.tMax;
  const tEnd = options.tEnd ?? schedule.tEnd;
  if (!SPACINGS.includes(spacing)) throw new Error(`unknown time spacing '${spacing}'; choose one of ${SPACINGS.join(', ')}`);
  if (!(tEnd > 0 && tStart > tEnd && tStart <= schedule.tMax)) throw new Error(`sampling times need 0 < t_end < t_start <= ${schedule.tMax}, got t_start = ${tStart}, t_end = ${tEnd}`);
  return { schedule, spacing, tStart, tEnd };
}

/** n + 1 times from `from` down to `to` with the grid's spacing (DPM-Solver's get_time_steps). */
export function vpTimeSteps(grid: VPGrid, from: number, to: number, n: number): Float64Array {
  const { schedule } = grid;
  const out = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) {
    const f = i / n;
    switch (grid.spacing) {
      case 'logSNR': {
        // lambda = -ln(sigma) uniform
        const lambda = -Math.log(schedule.sigma(from)) * (1 - f) - Math.log(schedule.sigma(to)) * f;
        out[i] = schedule.time(Math.exp(-lambda));
        break;
      }
      case 'time-uniform':
        out[i] = from + (to - from) * f;
        break;
      case 'time-quadratic':
        out[i] = (Math.sqrt(from) + (Math.sqrt(to) - Math.sqrt(from)) * f) ** 2;
        break;
    }
  }
  out[0] = from;
  out[n] = to;
  return out;
}

/** The VP prior x_T ~ N(0, I) in EDM's scale: x = x_T / alpha_T = latents * sqrt(1 + sigma_T^2). */
export function vpPrior(latents: Tensor, sigmaStart: number): Tensor {
  return T.mulScalar(latents, Math.sqrt(1 + sigmaStart * sigmaStart));
}
