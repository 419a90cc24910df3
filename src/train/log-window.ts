/**
 * What the trainer logs, gathered over the steps since the previous log entry: one step's loss swings
 * with the stage its batch drew, so an entry holds means over its window.
 */
import type { StagePartition } from '../stages/stage-partition.js';

export interface LogEntry {
  step: number;
  images: number;
  lr: number;
  /** Mean weighted loss of the steps since the last entry. */
  loss: number;
  /** Mean unweighted per-sample loss of each stage since the last entry (null: no sample in that stage). */
  lossPerStage: (number | null)[];
  samplesPerStage: number[];
  imagesPerSecond: number;
  elapsedSeconds: number;
  /** Optimizer steps since the last entry whose gradients had NaN/Inf (repaired as EDM does). */
  nonFiniteSteps: number;
}

export class LogWindow {
  private readonly stageSums: Float64Array;
  private readonly stageCounts: Float64Array;
  private lossSum = 0;
  private lossSteps = 0;
  private nonFinite = 0;
  private startImages: number;
  private startTime = performance.now();

  constructor(
    private readonly partition: StagePartition,
    imagesSeen: number,
  ) {
    this.stageSums = new Float64Array(partition.numStages);
    this.stageCounts = new Float64Array(partition.numStages);
    this.startImages = imagesSeen;
  }

  /** One sample's unweighted loss at noise level sigma. */
  addSample(sigma: number, loss: number): void {
    const s = this.partition.stageOf(sigma);
    this.stageSums[s] += loss;
    this.stageCounts[s]++;
  }

  addStep(loss: number, repaired: boolean): void {
    this.lossSum += loss;
    this.lossSteps++;
    if (repaired) this.nonFinite++;
  }

  /** Images per second since the window opened. */
  rate(imagesSeen: number, now: number): number {
    return (imagesSeen - this.startImages) / Math.max((now - this.startTime) / 1000, 1e-9);
  }

  lossPerStage(): (number | null)[] {
    return Array.from(this.stageSums, (s, i) => (this.stageCounts[i] > 0 ? s / this.stageCounts[i] : null));
  }

  /** The entry of this window; opens the next one. */
  close(progress: { step: number; images: number; lr: number; elapsedSeconds: number }, now: number): LogEntry {
    const entry: LogEntry = {
      step: progress.step,
      images: progress.images,
      lr: progress.lr,
      loss: this.lossSum / this.lossSteps,
      lossPerStage: this.lossPerStage(),
      samplesPerStage: Array.from(this.stageCounts),
      imagesPerSecond: this.rate(progress.images, now),
      elapsedSeconds: progress.elapsedSeconds,
      nonFiniteSteps: this.nonFinite,
    };
    this.stageSums.fill(0);
    this.stageCounts.fill(0);
    this.lossSum = 0;
    this.lossSteps = 0;
    this.nonFinite = 0;
    this.startImages = progress.images;
    this.startTime = now;
    return entry;
  }
}
