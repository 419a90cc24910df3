/**
 * Exponential moving average of the weights. EDM's rule: a half-life in images, optionally limited to
 * a fraction (ramp-up ratio) of the images seen so far so early averages do not remember the random
 * initialisation; or a constant decay per step (score-SDE's 0.9999).
 */
import * as T from '../tensor/index.js';
import { formatShape } from '../base/shape.js';

export type EmaSchedule =
  | { kind: 'halflife'; halfLifeImages: number; rampUpRatio: number | null }
  | { kind: 'constant'; decay: number };

/** The decay beta of one step of `batchSize` images after `imagesSeen` images. */
export function emaDecay(schedule: EmaSchedule, imagesSeen: number, batchSize: number): number {
  if (schedule.kind === 'constant') return schedule.decay;
  let halfLife = schedule.halfLifeImages;
  if (schedule.rampUpRatio !== null) halfLife = Math.min(halfLife, imagesSeen * schedule.rampUpRatio);
  return Math.pow(0.5, batchSize / Math.max(halfLife, 1e-8));
}

/**
 * The share of the initial weights still held by the EMA after `steps` steps of `batchSize` images from
 * the start (the product of the steps' decays). A constant per-step decay made for a long run (0.9999:
 * ~10k steps) leaves most of the initial weights in a short run's average, and EDM's networks start with
 * near-zero outputs, so such an EMA predicts the noise at a fraction of its scale: its samples are noise.
 */
export function emaInitialShare(schedule: EmaSchedule, steps: number, batchSize: number): number {
  let share = 1;
  for (let k = 0; k < steps && share > 1e-12; k++) share *= emaDecay(schedule, k * batchSize, batchSize);
  return share;
}

/**
 * ema <- beta * ema + (1 - beta) * net, for matching lists of float32 tensors (in place on ema's storage),
 * all in one backend call.
 */
export function emaUpdate(ema: readonly T.Tensor[], net: readonly T.Tensor[], beta: number): void {
  if (ema.length !== net.length) throw new Error(`EMA holds ${ema.length} tensors, the network ${net.length}`);
  if (ema.length === 0) return;
  ema.forEach((e, i) => {
    const x = net[i];
    if (e.size !== x.size || e.dtype !== 'float32' || x.dtype !== 'float32') throw new Error(`EMA tensor ${i} is ${e.dtype} ${formatShape(e.shape)}, the network's ${x.dtype} ${formatShape(x.shape)}`);
  });
  ema[0].backend.emaMany(ema.map((e, i) => ({ average: e.buffer, value: net[i].buffer, length: e.size })), beta);
}
