/**
 * Charts as PNG (for docs and the clustering's plots): axis boxes with numeric ticks drawn on a Raster.
 */
import { type ChartLabels, DASH, GRID, INK, type LinePlot, MARGIN, type Marker, PlotArea, type Rgb, type Series, formatTick, niceTicks } from './chart.js';
import { Raster } from './raster.js';

/** A plot area drawn on a raster: ticks, grid, marker lines and the frame. */
class Frame {
  constructor(readonly raster: Raster, readonly area: PlotArea) {}

  /** Labelled ticks at round values along both axes; light grid lines through them when `grid`. */
  axes(grid: boolean): void {
    const { raster: r, area: a } = this;
    for (const xv of niceTicks(a.xRange)) {
      const x = a.px(xv);
      if (grid) r.line(x, a.top, x, a.top + a.height - 1, GRID);
      r.line(x, a.top + a.height, x, a.top + a.height + 4, INK);
      const label = formatTick(xv);
      r.text(x - Raster.textWidth(label) / 2, a.top + a.height + 8, label, INK);
    }
    for (const yv of niceTicks(a.yRange)) {
      const y = a.py(yv);
      if (grid) r.line(a.left, y, a.left + a.width - 1, y, GRID);
      r.line(a.left - 5, y, a.left - 1, y, INK);
      const label = formatTick(yv);
      r.text(a.left - 9 - Raster.textWidth(label), y - 5, label, INK);
    }
  }

  box(): void {
    const { raster: r, area: { left, top, width: w, height: h } } = this;
    r.line(left - 1, top - 1, left + w, top - 1, INK);
    r.line(left - 1, top + h, left + w, top + h, INK);
    r.line(left - 1, top - 1, left - 1, top + h, INK);
    r.line(left + w, top - 1, left + w, top + h, INK);
  }

  markers(vertical: readonly Marker[], horizontal: readonly Marker[], thickness = 2): void {
    const { raster: r, area: a } = this;
    for (const m of vertical) r.line(a.px(m.at), a.top, a.px(m.at), a.top + a.height - 1, m.color, thickness, m.dashed ? DASH : 0);
    for (const m of horizontal) r.line(a.left, a.py(m.at), a.left + a.width - 1, a.py(m.at), m.color, thickness, m.dashed ? DASH : 0);
  }
}

/** Height of a line of 2x-scaled text with its spacing. */
const TEXT_ROW = 16;
const SWATCH = { width: 16, gap: 6, spacing: 16 };

/** Legend entries placed left to right from the plot's left edge, wrapping at `right`. */
function legendLayout(series: readonly Series[], right: number): { series: Series; x: number; row: number }[] {
  const out: { series: Series; x: number; row: number }[] = [];
  let x = MARGIN.left;
  let row = 0;
  for (const s of series) {
    if (!s.name) continue;
    const w = SWATCH.width + SWATCH.gap + Raster.textWidth(s.name);
    if (x > MARGIN.left && x + w > right) {
      x = MARGIN.left;
      row++;
    }
    out.push({ series: s, x, row });
    x += w + SWATCH.spacing;
  }
  return out;
}

/**
 * A line chart as PNG. With labels: the title (and y label in brackets) above the plot, the x label
 * under the ticks, and a legend of the named series below that.
 */
export function linePng(spec: LinePlot, labels: ChartLabels = {}): Buffer {
  const base = PlotArea.ofLinePlot(spec);
  const width = base.width + MARGIN.left + MARGIN.right;
  const title = labels.title ? `${labels.title}${labels.y ? ` (${labels.y})` : ''}` : labels.y;
  const above = title ? TEXT_ROW + 4 : 0;
  const legend = legendLayout(spec.series, width - MARGIN.right);
  const below = (labels.x ? TEXT_ROW : 0) + (legend.length ? (Math.max(...legend.map((l) => l.row)) + 1) * TEXT_ROW + 4 : 0);
  const area = new PlotArea(base.left, base.top + above, base.width, base.height, base.xRange, base.yRange);
  const raster = new Raster(width, above + base.height + MARGIN.top + MARGIN.bottom + below);
  if (title) raster.text(MARGIN.left, 6, title, INK);
  let y = area.top + area.height + MARGIN.bottom;
  if (labels.x) {
    raster.text(area.left + (area.width - Raster.textWidth(labels.x)) / 2, y, labels.x, INK);
    y += TEXT_ROW;
  }
  for (const l of legend) {
    const top = y + 4 + l.row * TEXT_ROW;
    raster.line(l.x, top + 4, l.x + SWATCH.width - 1, top + 4, l.series.color, 3, l.series.dashed ? 4 : 0);
    raster.text(l.x + SWATCH.width + SWATCH.gap, top, l.series.name!, INK);
  }
  const frame = new Frame(raster, area);
  frame.axes(true);
  frame.markers(spec.vertical ?? [], spec.horizontal ?? []);
  for (const s of spec.series) {
    if (s.x.length !== s.y.length) throw new Error(`plot series has ${s.x.length} x values and ${s.y.length} y values`);
    for (let i = 0; i < s.x.length; i++) {
      if (s.kind === 'dots') raster.dot(area.px(s.x[i]), area.py(s.y[i]), s.color);
      else if (i > 0) raster.line(area.px(s.x[i - 1]), area.py(s.y[i - 1]), area.px(s.x[i]), area.py(s.y[i]), s.color, 2, s.dashed ? DASH : 0);
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
export function heatmapPng(matrix: readonly (readonly number[])[], t: readonly number[], boundaries: readonly Marker[], size = 480): Buffer {
  const n = t.length;
  if (matrix.length !== n || matrix.some((row) => row.length !== n)) throw new Error(`heatmap: a ${matrix.length}-row matrix for ${n} grid times`);
  const colorbar = 48;
  const raster = new Raster(MARGIN.left + size + colorbar + MARGIN.right, MARGIN.top + size + MARGIN.bottom);
  // Cell edges halfway between grid times, so each cell is centred on its time.
  const edge = (i: number): number => (i === 0 ? t[0] : i === n ? t[n - 1] : (t[i - 1] + t[i]) / 2);
  const area = new PlotArea(MARGIN.left, MARGIN.top, size, size, [t[0], t[n - 1]], [t[0], t[n - 1]]);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      const x0 = Math.round(area.px(edge(b)));
      const x1 = Math.round(area.px(edge(b + 1)));
      const y0 = Math.round(area.py(edge(a + 1)));
      const y1 = Math.round(area.py(edge(a)));
      raster.fillRect(x0, y0, Math.max(1, x1 - x0 + 1), Math.max(1, y1 - y0 + 1), colormap(matrix[a][b]));
    }
  }
  const frame = new Frame(raster, area);
  frame.axes(false);
  frame.markers(boundaries, boundaries);
  frame.box();
  const barLeft = MARGIN.left + size + 14;
  const bar = new PlotArea(barLeft, MARGIN.top, 12, size, [0, 1], [0, 1]);
  for (let y = 0; y < size; y++) raster.fillRect(barLeft, MARGIN.top + y, 12, 1, colormap(1 - y / (size - 1)));
  new Frame(raster, bar).box();
  raster.text(barLeft + 16, bar.py(1) - 2, '1', INK);
  raster.text(barLeft + 16, bar.py(0) - 8, '0', INK);
  return raster.toPng();
}
