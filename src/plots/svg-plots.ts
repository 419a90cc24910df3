/**
 * Charts as SVG text (for the HTML run report): the same axes, ticks, markers and series as the PNG
 * renderer, placed by the same PlotArea. Each series is one element of class "series" (a path for lines,
 * a group of circles for dots) named in data-name; the plot area and data ranges are in data-area and
 * data-domain, so a reader (or a test) can map the drawn points back to data.
 */
import { type ChartLabels, DASH, GRID, INK, type LinePlot, MARGIN, type Marker, PlotArea, type Series, cssColor, formatTick, niceTicks } from './chart.js';

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const num = (v: number): string => String(Math.round(v * 100) / 100);

function line(x0: number, y0: number, x1: number, y1: number, stroke: string, width = 1, dashed = false): string {
  return `<line x1="${num(x0)}" y1="${num(y0)}" x2="${num(x1)}" y2="${num(y1)}" stroke="${stroke}" stroke-width="${width}"${dashed ? ` stroke-dasharray="${DASH}"` : ''}/>`;
}

function seriesSvg(s: Series, a: PlotArea): string {
  if (s.x.length !== s.y.length) throw new Error(`plot series has ${s.x.length} x values and ${s.y.length} y values`);
  const color = cssColor(s.color);
  const name = escapeXml(s.name ?? '');
  const title = s.name ? `<title>${name}</title>` : '';
  if (s.kind === 'dots') {
    const dots = s.x.map((x, i) => `<circle cx="${num(a.px(x))}" cy="${num(a.py(s.y[i]))}" r="2.5"/>`).join('');
    return `<g class="series" data-name="${name}" fill="${color}">${title}${dots}</g>`;
  }
  const d = s.x.map((x, i) => `${i === 0 ? 'M' : 'L'}${num(a.px(x))} ${num(a.py(s.y[i]))}`).join(' ');
  return `<path class="series" data-name="${name}" d="${d}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"${s.dashed ? ` stroke-dasharray="${DASH}"` : ''}>${title}</path>`;
}

/** A line chart as a standalone <svg> element: title above, x label under the x axis, y label along the y axis. */
export function lineSvg(spec: LinePlot, labels: ChartLabels = {}): string {
  const base = PlotArea.ofLinePlot(spec);
  const above = labels.title ? 18 : 0;
  const a = new PlotArea(base.left, base.top + above, base.width, base.height, base.xRange, base.yRange);
  const width = a.width + MARGIN.left + MARGIN.right;
  const height = above + a.height + MARGIN.top + MARGIN.bottom + (labels.x ? 14 : 0);
  const ink = cssColor(INK);
  const parts: string[] = [];
  const bottom = a.top + a.height;
  for (const xv of niceTicks(a.xRange)) {
    const x = a.px(xv);
    parts.push(line(x, a.top, x, bottom - 1, cssColor(GRID)), line(x, bottom, x, bottom + 4, ink));
    parts.push(`<text x="${num(x)}" y="${bottom + 16}" text-anchor="middle">${formatTick(xv)}</text>`);
  }
  for (const yv of niceTicks(a.yRange)) {
    const y = a.py(yv);
    parts.push(line(a.left, y, a.left + a.width - 1, y, cssColor(GRID)), line(a.left - 5, y, a.left - 1, y, ink));
    parts.push(`<text x="${a.left - 8}" y="${num(y + 4)}" text-anchor="end">${formatTick(yv)}</text>`);
  }
  const marker = (m: Marker, vertical: boolean): string =>
    vertical ? line(a.px(m.at), a.top, a.px(m.at), bottom - 1, cssColor(m.color), 2, m.dashed) : line(a.left, a.py(m.at), a.left + a.width - 1, a.py(m.at), cssColor(m.color), 2, m.dashed);
  parts.push(...(spec.vertical ?? []).map((m) => marker(m, true)), ...(spec.horizontal ?? []).map((m) => marker(m, false)));
  parts.push(...spec.series.map((s) => seriesSvg(s, a)));
  parts.push(`<rect x="${a.left - 0.5}" y="${a.top - 0.5}" width="${a.width}" height="${a.height}" fill="none" stroke="${ink}"/>`);
  if (labels.title) parts.push(`<text x="${a.left}" y="14" font-weight="bold">${escapeXml(labels.title)}</text>`);
  if (labels.x) parts.push(`<text x="${num(a.left + a.width / 2)}" y="${height - 4}" text-anchor="middle">${escapeXml(labels.x)}</text>`);
  if (labels.y) parts.push(`<text transform="translate(12 ${num(a.top + a.height / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(labels.y)}</text>`);
  return (
    `<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
    `data-area="${a.left} ${a.top} ${a.width} ${a.height}" data-domain="${a.xRange.join(' ')} ${a.yRange.join(' ')}" ` +
    `font-family="sans-serif" font-size="11" fill="${ink}">${parts.join('')}</svg>`
  );
}
