/**
 * Stage boundaries given in a formulation's own time, converted to the sigma boundaries a StagePartition
 * holds, so one partition routes every formulation (sigma increases with t and with the step index).
 */
import { StagePartition } from '../stages/stage-partition.js';
import type { DiscreteVPSchedule } from './schedules/discrete-vp.js';
import type { VPSchedule } from './schedules/vp-schedule.js';
import type { NoiseLevel } from '../stages/noise-level.js';

/**
 * score_sde's multistage rule, t in (b[k-1], b[k]] is stage k, is sigma(t) in (sigma(b[k-1]), sigma(b[k])]: the
 * CIFAR-10 VP boundaries 0.4420 and 0.6308 become sigma 2.5103 and 7.41.
 */
export function partitionFromTimes(schedule: VPSchedule, times: readonly number[]): StagePartition {
  for (const t of times) if (!(t > 0 && t < schedule.tMax)) throw new Error(`stage boundary time ${t} outside (0, ${schedule.tMax})`);
  return new StagePartition(times.map((t) => schedule.sigma(t)));
}

/**
 * LDM's rule is `step < k` for the lower stage. The boundary goes halfway between steps k - 1 and k (in the
 * interpolated schedule), so integer steps route exactly as LDM's, with a margin that survives float32
 * noise levels; only fractional steps in (k - 1/2, k), which DPM-Solver's continuous time can visit, move up a
 * stage, where LDM's `<` keeps them below.
 */
export function partitionFromSteps(schedule: DiscreteVPSchedule, steps: readonly number[]): StagePartition {
  for (const k of steps) if (!Number.isInteger(k) || k < 1 || k >= schedule.steps) throw new Error(`stage boundary step ${k} outside 1..${schedule.steps - 1}`);
  return new StagePartition(steps.map((k) => schedule.sigma(schedule.timeOfStep(k - 0.5))));
}

/** A VP schedule as the timestep clustering reads it: x_t = scale x0 + std eps at time t. */
export function noiseLevelAt(schedule: VPSchedule): (t: number) => NoiseLevel {
  return (t) => {
    const logAlpha = schedule.logAlpha(t);
    return { t, scale: Math.exp(logAlpha), std: Math.sqrt(-Math.expm1(2 * logAlpha)) };
  };
}
