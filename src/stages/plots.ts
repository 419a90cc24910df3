/**
 * PNG plots of a clustering: the curves Algorithm 1 thresholds, the grid's similarity matrix as a heatmap,
 * or the log-SNR the snr baseline clusters, each with the chosen boundaries (solid green) and, optionally,
 * reference boundaries such as the paper's (dashed grey). Axes carry numeric ticks only (t from 0 to 1
 * along x); docs/clustering.md explains what each plot shows.
 */
import type { Algorithm1Curves } from './algorithm1.js';
import type { SnrClustering } from './baselines.js';
import type { ClusterResult } from './cluster.js';
import { Raster, type Rgb } from './raster.js';

export interface Series {
  x: readonly number[];
  y: readonly number[];
  color: Rgb;
  kind: 'line' | 'dots';
}

export interface Marker {
  at: number;
  color: Rgb;
  dashed?: boolean;
}

export interface LinePlot {
  x: readonly [number, number];
  y: readonly [number, number];
  series: readonly Series[];
  /** Vertical lines at x values. */
  vertical?: readonly Marker[];
  /** Horizontal lines at y values. */
  horizontal?: readonly Marker[];
  width?: number;
  height?: number;
}

const INK: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];
const BLUE: Rgb = [70, 110, 200];
const DARK_BLUE: Rgb = [20, 40, 130];
const RED: Rgb = [220, 100, 90];
const DARK_RED: Rgb = [140, 20, 20];
const GREEN: Rgb = [30, 140, 60];
const GREY: Rgb = [120, 120, 120];
const MARGIN = { left: 56, right: 16, top: 12, bottom: 34 };

/** Axis box of a plot area inside a raster: maps data coordinates to pixels. */
class Frame {
  constructor(
    readonly raster: Raster,
    readonly left: number,
    readonly top: number,
    readonly width: number,
    readonly height: number,
    readonly xRange: readonly [number, number],
    readonly yRange: readonly [number, number],
  ) {}

  px(x: number): number {
    return this.left + ((x - this.xRange[0]) / (this.xRange[1] - this.xRange[0])) * (this.width - 1);
  }

  py(y: number): number {
    return this.top + (1 - (y - this.yRange[0]) / (this.yRange[1] - this.yRange[0])) * (this.height - 1);
  }

  /** Labelled ticks at round values along both axes; light grid lines through them when `grid`. */
  axes(grid: boolean): void {
    const r = this.raster;
    for (const xv of niceTicks(this.xRange)) {
      const x = this.px(xv);
      if (grid) r.line(x, this.top, x, this.top + this.height - 1, GRID);
      r.line(x, this.top + this.height, x, this.top + this.height + 4, INK);
      const label = formatTick(xv);
      r.text(x - Raster.textWidth(label) / 2, this.top + this.height + 8, label, INK);
    }
    for (const yv of niceTicks(this.yRange)) {
      const y = this.py(yv);
      if (grid) r.line(this.left, y, this.left + this.width - 1, y, GRID);
      r.line(this.left - 5, y, this.left - 1, y, INK);
      const label = formatTick(yv);
      r.text(this.left - 9 - Raster.textWidth(label), y - 5, label, INK);
    }
  }

  box(): void {
    const { raster: r, left, top, width: w, height: h } = this;
    r.line(left - 1, top - 1, left + w, top - 1, INK);
    r.line(left - 1, top + h, left + w, top + h, INK);
    r.line(left - 1, top - 1, left - 1, top + h, INK);
    r.line(left + w, top - 1, left + w, top + h, INK);
  }

  markers(vertical: readonly Marker[], horizontal: readonly Marker[], thickness = 2): void {
    for (const m of vertical) this.raster.line(this.px(m.at), this.top, this.px(m.at), this.top + this.height - 1, m.color, thickness, m.dashed ? 6 : 0);
    for (const m of horizontal) this.raster.line(this.left, this.py(m.at), this.left + this.width - 1, this.py(m.at), m.color, thickness, m.dashed ? 6 : 0);
  }
}

/** Multiples of a round step (1, 2, 2.5 or 5 times a power of ten) inside the range, about five of them. */
function niceTicks([lo, hi]: readonly [number, number]): number[] {
  const raw = (hi - lo) / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw * (1 - 1e-9))!;
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(k * step);
  return ticks;
}

function formatTick(v: number): string {
  return String(Number(v.toPrecision(3)));
}

export function linePlot(spec: LinePlot): Buffer {
  const width = spec.width ?? 640;
  const height = spec.height ?? 400;
  const raster = new Raster(width, height);
  const frame = new Frame(raster, MARGIN.left, MARGIN.top, width - MARGIN.left - MARGIN.right, height - MARGIN.top - MARGIN.bottom, spec.x, spec.y);
  frame.axes(true);
  frame.markers(spec.vertical ?? [], spec.horizontal ?? []);
  for (const s of spec.series) {
    if (s.x.length !== s.y.length) throw new Error(`plot series has ${s.x.length} x values and ${s.y.length} y values`);
    for (let i = 0; i < s.x.length; i++) {
      if (s.kind === 'dots') raster.dot(frame.px(s.x[i]), frame.py(s.y[i]), s.color);
      else if (i > 0) raster.line(frame.px(s.x[i - 1]), frame.py(s.y[i - 1]), frame.px(s.x[i]), frame.py(s.y[i]), s.color, 2);
    }
  }
  frame.box();
  return raster.toPng();
}

/** Viridis-like colour of v in [0, 1]. */
function colormap(v: number): Rgb {
  const stops: Rgb[] = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.min(1, Math.max(0, v)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  return [0, 1, 2].map((c) => Math.round(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * f)) as unknown as Rgb;
}

/**
 * A similarity matrix over grid times t (values in [0, 1]) as a heatmap, t increasing rightwards and
 * upwards, with boundary times drawn as lines on both axes and a colour bar from 0 to 1.
 */
export function heatmapPlot(matrix: readonly (readonly number[])[], t: readonly number[], boundaries: readonly Marker[], size = 480): Buffer {
  const n = t.length;
  if (matrix.length !== n || matrix.some((row) => row.length !== n)) throw new Error(`heatmap: a ${matrix.length}-row matrix for ${n} grid times`);
  const colorbar = 48;
  const raster = new Raster(MARGIN.left + size + colorbar + MARGIN.right, MARGIN.top + size + MARGIN.bottom);
  // Cell edges halfway between grid times, so each cell is centred on its time.
  const edge = (i: number): number => (i === 0 ? t[0] : i === n ? t[n - 1] : (t[i - 1] + t[i]) / 2);
  const frame = new Frame(raster, MARGIN.left, MARGIN.top, size, size, [t[0], t[n - 1]], [t[0], t[n - 1]]);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      const x0 = Math.round(frame.px(edge(b)));
      const x1 = Math.round(frame.px(edge(b + 1)));
      const y0 = Math.round(frame.py(edge(a + 1)));
      const y1 = Math.round(frame.py(edge(a)));
      raster.fillRect(x0, y0, Math.max(1, x1 - x0 + 1), Math.max(1, y1 - y0 + 1), colormap(matrix[a][b]));
    }
  }
  frame.axes(false);
  frame.markers(boundaries, boundaries);
  frame.box();
  const barLeft = MARGIN.left + size + 14;
  const bar = new Frame(raster, barLeft, MARGIN.top, 12, size, [0, 1], [0, 1]);
  for (let y = 0; y < size; y++) raster.fillRect(barLeft, MARGIN.top + y, 12, 1, colormap(1 - y / (size - 1)));
  bar.box();
  raster.text(barLeft + 16, bar.py(1) - 2, '1', INK);
  raster.text(barLeft + 16, bar.py(0) - 8, '0', INK);
  return raster.toPng();
}

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
  return linePlot({
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
  return heatmapPlot(matrix, t, markers(boundaries, reference));
}

/** The snr baseline's log-SNR against t, with boundary and reference times marked as above. */
export function snrPlot(snr: SnrClustering, boundaries: readonly number[], reference: readonly number[] = []): Buffer {
  const { t, logSnr } = snr;
  return linePlot({
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
