/**
 * Reads the series of a report's SVG chart back into data coordinates, through the plot area and data
 * ranges each chart carries (data-area, data-domain): what a test compares with the log it drew.
 */
export type Points = [number, number][];

export function chartSvg(html: string, id: string): string | null {
  const figure = new RegExp(`<figure class="chart-box" id="chart-${id}">(.*?)</figure>`, 's').exec(html);
  if (!figure) throw new Error(`no chart ${id} in the report`);
  return /<svg[^>]*>.*<\/svg>/s.exec(figure[1])?.[0] ?? null;
}

export function seriesOf(svg: string): Map<string, Points> {
  const [left, top, width, height] = /data-area="([^"]+)"/.exec(svg)![1].split(' ').map(Number);
  const [x0, x1, y0, y1] = /data-domain="([^"]+)"/.exec(svg)![1].split(' ').map(Number);
  const toData = (px: number, py: number): [number, number] => [x0 + ((px - left) / (width - 1)) * (x1 - x0), y0 + (1 - (py - top) / (height - 1)) * (y1 - y0)];
  const out = new Map<string, Points>();
  for (const m of svg.matchAll(/<path class="series" data-name="([^"]*)" d="([^"]*)"/g)) {
    out.set(m[1], [...m[2].matchAll(/[ML]([-\d.]+) ([-\d.]+)/g)].map((p) => toData(Number(p[1]), Number(p[2]))));
  }
  for (const m of svg.matchAll(/<g class="series" data-name="([^"]*)"[^>]*>(.*?)<\/g>/gs)) {
    out.set(m[1], [...m[2].matchAll(/cx="([-\d.]+)" cy="([-\d.]+)"/g)].map((p) => toData(Number(p[1]), Number(p[2]))));
  }
  return out;
}
