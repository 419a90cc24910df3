/**
 * The paper's baseline stage splits (Table 4), which need no data:
 * - uniform: equal spans of time;
 * - snr-equal: equal spans of log-SNR between the ends of the time axis (the literal reading);
 * - snr: the official snr_cluster.py's split, a 1-D clustering of log-SNR: a uniform grid of times
 *   (1000 points in the official code) cut into K contiguous stages that minimise the total absolute
 *   deviation of each point's log-SNR from its stage's median. Every grid point weighs the same, so the
 *   split follows how time is spent along the log-SNR axis; on the VP schedule it gives the paper's
 *   0.348 / 0.709. (Equal spans of log-SNR would put t1 near 0.07 instead: the VP log-SNR falls fastest
 *   at small t.)
 */
import { bestContiguousPartition } from './contiguous-partition.js';
import { type NoiseLevelAt, logSnrOf, timeGrid } from './noise-level.js';

/** Times of the K - 1 boundaries of equal spans of [tMin, tMax]. */
export function uniformTimeBoundaries(stages: number, tMin: number, tMax: number): number[] {
  if (!Number.isInteger(stages) || stages < 1) throw new Error(`the number of stages must be a positive integer, got ${stages}`);
  return Array.from({ length: stages - 1 }, (_, k) => tMin + ((tMax - tMin) * (k + 1)) / stages);
}

/** Times of the K - 1 boundaries that cut [logSNR(tMax), logSNR(tMin)] into equal spans (bisection: log-SNR falls with t). */
export function equalLogSnrBoundaries(stages: number, levelAt: NoiseLevelAt, tMin: number, tMax: number): number[] {
  if (!Number.isInteger(stages) || stages < 1) throw new Error(`the number of stages must be a positive integer, got ${stages}`);
  const hi = logSnrOf(levelAt(tMin));
  const lo = logSnrOf(levelAt(tMax));
  if (!(Number.isFinite(hi) && Number.isFinite(lo) && hi > lo)) throw new Error(`log-SNR must be finite and fall from t = ${tMin} to ${tMax}, got ${hi} and ${lo}`);
  return Array.from({ length: stages - 1 }, (_, k) => {
    const target = hi - ((hi - lo) * (k + 1)) / stages;
    let a = tMin;
    let b = tMax;
    for (let i = 0; i < 100 && b - a > 1e-12; i++) {
      const m = 0.5 * (a + b);
      if (logSnrOf(levelAt(m)) > target) a = m;
      else b = m;
    }
    return 0.5 * (a + b);
  });
}

export interface SnrClustering {
  /** The grid's times and their log-SNR. */
  t: number[];
  logSnr: number[];
  /** Grid index where each of stages 1..K-1 begins. */
  starts: number[];
}

/** The official log-SNR clustering of a `gridSize`-point time grid on [tMin, tMax] into K stages. */
export function snrClustering(stages: number, levelAt: NoiseLevelAt, gridSize: number, tMin: number, tMax: number): SnrClustering {
  const t = [...timeGrid(gridSize, tMin, tMax)];
  const logSnr = t.map((ti) => logSnrOf(levelAt(ti)));
  logSnr.forEach((v, i) => {
    if (!Number.isFinite(v) || (i > 0 && !(v < logSnr[i - 1]))) throw new Error(`log-SNR must be finite and fall as t grows; at t = ${t[i]} it is ${v} after ${logSnr[i - 1]}`);
  });
  const prefix = new Float64Array(gridSize + 1);
  logSnr.forEach((v, i) => (prefix[i + 1] = prefix[i] + v));
  // Sum of |v - median| over [start, end): the values fall along the grid, so the median is the middle item,
  // the items before it lie above it and the items from it on lie at or below it.
  const absoluteDeviation = (start: number, end: number): number => {
    const mid = (start + end) >> 1;
    const median = logSnr[mid];
    return prefix[mid] - prefix[start] - median * (mid - start) + median * (end - mid) - (prefix[end] - prefix[mid]);
  };
  const { starts } = bestContiguousPartition(gridSize, stages, (start, end) => -absoluteDeviation(start, end));
  return { t, logSnr, starts };
}
