/**
 * PNG plots of a clustering: the curves Algorithm 1 thresholds, the grid's similarity matrix as a heatmap,
 * or the log-SNR the snr baseline clusters, each with the chosen boundaries (solid green) and, optionally,
 * reference boundaries such as the paper's (dashed grey). Axes carry numeric ticks only (t from 0 to 1
 * along x); docs/clustering.md explains what each plot shows.
 */
import type { Algorithm1Curves } from '../stages/algorithm1.js';
import type { SnrClustering } from '../stages/baselines.js';
import type { ClusterResult } from '../stages/cluster.js';
import type { Marker, Rgb } from './chart.js';
import { heatmapPng, linePng } from './png-plots.js';

const BLUE: Rgb = [70, 110, 200];
const DARK_BLUE: Rgb = [20, 40, 130];
const RED: Rgb = [220, 100, 90];
const DARK_RED: Rgb = [140, 20, 20];
const GREEN: Rgb = [30, 140, 60];
const GREY: Rgb = [120, 120, 120];

const markers = (boundaries: readonly number[], reference: readonly number[]): Marker[] => [
  ...reference.map((at) => ({ at, color: GREY, dashed: true })),
  ...boundaries.map((at) => ({ at, color: GREEN })),
];

/**
 * Algorithm 1's samples S0 (blue dots) and S1 (red dots) against t, their running means (dark lines) and
 * alpha (grey line); boundary times solid green, reference times (such as the paper's) dashed grey.
 */
export function algorithm1Plot(curves: Algorithm1Curves, alpha: number, boundaries: readonly number[], reference: readonly number[] = []): Buffer {
  const { t } = curves;
  return linePng({
    x: [0, 1],
    y: [0, 1],
    series: [
      { x: t, y: curves.s0, color: BLUE, kind: 'dots' },
      { x: t, y: curves.s1, color: RED, kind: 'dots' },
      { x: t, y: curves.s0Below, color: DARK_BLUE, kind: 'line' },
      { x: t, y: curves.s1Above, color: DARK_RED, kind: 'line' },
    ],
    vertical: markers(boundaries, reference),
    horizontal: [{ at: alpha, color: GREY }],
  });
}

/** A grid's similarity matrix as a heatmap, with boundary and reference times marked as above. */
export function similarityPlot(matrix: readonly (readonly number[])[], t: readonly number[], boundaries: readonly number[], reference: readonly number[] = []): Buffer {
  return heatmapPng(matrix, t, markers(boundaries, reference));
}

/** The snr baseline's log-SNR against t, with boundary and reference times marked as above. */
export function snrPlot(snr: SnrClustering, boundaries: readonly number[], reference: readonly number[] = []): Buffer {
  const { t, logSnr } = snr;
  return linePng({
    x: [0, 1],
    y: [Math.floor(Math.min(...logSnr)), Math.ceil(Math.max(...logSnr))],
    series: [{ x: t, y: logSnr, color: DARK_BLUE, kind: 'line' }],
    vertical: markers(boundaries, reference),
  });
}

/** The plot of a clustering result (one of the three above), or null for the uniform baseline. */
export function clusterPlot(result: ClusterResult, reference: readonly number[] = []): Buffer | null {
  const boundaries = result.boundaries.map((b) => b.t);
  if (result.algorithm1) return algorithm1Plot(result.algorithm1, Number(result.settings.alpha), boundaries, reference);
  if (result.grid) return similarityPlot(result.grid[result.grid.space], result.grid.t, boundaries, reference);
  if (result.snr) return snrPlot(result.snr, boundaries, reference);
  return null;
}
