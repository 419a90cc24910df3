/**
 * Exponential moving average of the weights. EDM's rule: a half-life in images, optionally limited to
 * a fraction (ramp-up ratio) of the images seen so far so early averages do not remember the random
 * initialisation; or a constant decay per step (score-SDE's 0.9999).
 */
import * as T from '../tensor/index.js';

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

/** ema <- beta * ema + (1 - beta) * net, for matching lists of tensors (in place on ema's storage). */
export function emaUpdate(ema: readonly T.Tensor[], net: readonly T.Tensor[], beta: number): void {
  if (ema.length !== net.length) throw new Error(`EMA holds ${ema.length} tensors, the network ${net.length}`);
  T.noGrad(() =>
    T.tidy(() => {
      ema.forEach((e, i) => {
        const blended = T.add(T.mulScalar(e, beta), T.mulScalar(net[i], 1 - beta));
        e.backend.copyRows(blended.buffer, 0, 0, e.buffer, 0, 0, 1, e.size);
      });
    }),
  );
}
