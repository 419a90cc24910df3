/**
 * What a chart is, apart from how it is drawn: data ranges, series, marker lines, and the one mapping from
 * data to pixels that the PNG and the SVG renderers share, so both draw the same plot at the same places.
 */
export type Rgb = readonly [number, number, number];

export interface Series {
  x: readonly number[];
  y: readonly number[];
  color: Rgb;
  kind: 'line' | 'dots';
  /** Shown in legends and tooltips (SVG). */
  name?: string;
  dashed?: boolean;
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

/** Text around a chart; both renderers draw what is given. */
export interface ChartLabels {
  title?: string;
  x?: string;
  y?: string;
}

export const INK: Rgb = [40, 40, 40];
export const GRID: Rgb = [225, 225, 225];
export const MARGIN = { left: 56, right: 16, top: 12, bottom: 34 };
/** Pixels between dashes (and gaps) of a dashed line. */
export const DASH = 6;

/** Series colours for charts with several series, distinguishable in print. */
export const PALETTE: readonly Rgb[] = [
  [31, 119, 180], [214, 39, 40], [44, 160, 44], [255, 127, 14], [148, 103, 189], [140, 86, 75], [227, 119, 194], [23, 190, 207],
];

/** The plot area of a chart in pixels and the data ranges it shows. */
export class PlotArea {
  constructor(
    readonly left: number,
    readonly top: number,
    readonly width: number,
    readonly height: number,
    readonly xRange: readonly [number, number],
    readonly yRange: readonly [number, number],
  ) {
    for (const [name, [lo, hi]] of [['x', xRange], ['y', yRange]] as const) {
      if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo)) throw new Error(`plot: the ${name} range [${lo}, ${hi}] is empty or not finite`);
    }
  }

  /** The area of a width x height line chart, inside the standard margins. */
  static ofLinePlot(spec: LinePlot): PlotArea {
    const width = spec.width ?? 640;
    const height = spec.height ?? 400;
    return new PlotArea(MARGIN.left, MARGIN.top, width - MARGIN.left - MARGIN.right, height - MARGIN.top - MARGIN.bottom, spec.x, spec.y);
  }

  px(x: number): number {
    return this.left + ((x - this.xRange[0]) / (this.xRange[1] - this.xRange[0])) * (this.width - 1);
  }

  py(y: number): number {
    return this.top + (1 - (y - this.yRange[0]) / (this.yRange[1] - this.yRange[0])) * (this.height - 1);
  }
}

/** Multiples of a round step (1, 2, 2.5 or 5 times a power of ten) inside the range, about five of them. */
export function niceTicks([lo, hi]: readonly [number, number]): number[] {
  const step = niceStep(hi - lo);
  const ticks: number[] = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) ticks.push(k * step);
  return ticks;
}

function niceStep(span: number): number {
  const raw = span / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 2.5, 5, 10].map((m) => m * magnitude).find((s) => s >= raw * (1 - 1e-9))!;
}

/** A tick label: three significant digits, thousands as k and millions as M (the PNG font has both). */
export function formatTick(v: number): string {
  const abs = Math.abs(v);
  if (abs >= 1e6) return `${Number((v / 1e6).toPrecision(3))}M`;
  if (abs >= 1e4) return `${Number((v / 1e3).toPrecision(3))}k`;
  return String(Number(v.toPrecision(3)));
}

/**
 * A range covering the finite values, widened to the nearest round ticks (and to [v - 1, v + 1] around a
 * single value), optionally from zero: the default axis of a chart.
 */
export function dataRange(values: Iterable<number>, fromZero = false): [number, number] {
  let lo = fromZero ? 0 : Infinity;
  let hi = fromZero ? 0 : -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    lo = Math.min(lo, v);
    hi = Math.max(hi, v);
  }
  if (lo === Infinity) return [0, 1];
  if (hi - lo <= Math.abs(hi) * 1e-12) return lo === 0 ? [0, 1] : [lo - Math.abs(lo) / 2, hi + Math.abs(hi) / 2];
  const step = niceStep(hi - lo);
  return [Math.floor(lo / step + 1e-9) * step, Math.ceil(hi / step - 1e-9) * step];
}

export function cssColor([r, g, b]: Rgb): string {
  return `rgb(${r},${g},${b})`;
}
