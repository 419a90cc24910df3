/**
 * Learning rate per step: EDM ramps up linearly over the first images (lr_rampup_kimg); score-SDE /
 * DPM-Solver warms up linearly over the first optimizer steps. Both may be combined; both are 1 after.
 */
export interface LrSchedule {
  lr: number;
  /** Linear ramp over this many images (EDM: 10,000,000 for CIFAR-10). 0 disables. */
  rampUpImages: number;
  /** Linear warm-up over this many optimizer steps (score-SDE: 5000). 0 disables. */
  warmupSteps: number;
}

export function learningRate(s: LrSchedule, imagesSeen: number, step: number): number {
  const ramp = s.rampUpImages > 0 ? Math.min(imagesSeen / s.rampUpImages, 1) : 1;
  const warm = s.warmupSteps > 0 ? Math.min(step / s.warmupSteps, 1) : 1;
  return s.lr * ramp * warm;
}
