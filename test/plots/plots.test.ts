import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { clusterStages } from '../../src/stages/index.js';
import { PlotArea, type Rgb, clusterPlot, heatmapPng, linePng } from '../../src/plots/index.js';
import { fourPoints } from '../stages/four-points.js';
import { vpLevel } from '../stages/vp.js';

T.setBackend(cpuBackend());

function pixel(png: PNG, x: number, y: number): number[] {
  const o = (y * png.width + x) * 4;
  return [...png.data.subarray(o, o + 3)];
}

test('a heatmap paints each cell its value and draws boundaries on both axes', () => {
  const t = [0, 0.25, 0.5, 0.75, 1];
  const matrix = t.map((_, a) => t.map((_, b) => (a === b ? 1 : 0)));
  const png = PNG.sync.read(heatmapPng(matrix, t, [{ at: 0.5, color: [0, 200, 0] }], 400));
  assert.equal(png.height, 12 + 400 + 34);
  // Plot area starts at (56, 12), 400 px square; t = 0 is at the bottom left.
  assert.deepEqual(pixel(png, 56 + 20, 12 + 400 - 20), [253, 231, 37], 'cell (0, 0) = 1 is yellow');
  assert.deepEqual(pixel(png, 56 + 20, 12 + 20), [68, 1, 84], 'cell (4, 0) = 0 is dark');
  assert.deepEqual(pixel(png, 56 + 200, 12 + 100), [0, 200, 0], 'the boundary at t = 0.5 is a vertical line');
  assert.deepEqual(pixel(png, 56 + 100, 12 + 200), [0, 200, 0], 'and a horizontal one');
});

test('a line plot draws series inside its axes', () => {
  const png = PNG.sync.read(linePng({ x: [0, 1], y: [0, 1], series: [{ x: [0, 1], y: [0.5, 0.5], color: [255, 0, 0], kind: 'line' }], width: 300, height: 200 }));
  assert.deepEqual([png.width, png.height], [300, 200]);
  const plotHeight = 200 - 12 - 34;
  const y = Math.round(12 + 0.5 * (plotHeight - 1));
  assert.deepEqual(pixel(png, 150, y), [255, 0, 0]);
});

/** Rows of the plot area in which column x has exactly this colour. */
function columnShare(png: PNG, area: PlotArea, x: number, color: Rgb): number {
  let hits = 0;
  for (let y = area.top; y < area.top + area.height; y++) if (pixel(png, Math.round(x), y).join() === color.join()) hits++;
  return hits / area.height;
}

test('each clustering plot shows its boundaries, the reference times and its curve where they are', () => {
  const GREEN: Rgb = [30, 140, 60];
  const GREY: Rgb = [120, 120, 120];
  const DARK_BLUE: Rgb = [20, 40, 130];
  const DARK_RED: Rgb = [140, 20, 20];
  const reference = 0.442;
  const { dataset } = fourPoints(8, 0.5, 0.3, 0.1);
  const common = { stages: 3, levelAt: vpLevel, dataset, gridSize: 10, alpha: 0.8 };
  for (const method of ['optimal-denoiser', 'algorithm1', 'snr'] as const) {
    const result = clusterStages({ ...common, method, samples: method === 'algorithm1' ? 200 : 8 });
    const png = PNG.sync.read(clusterPlot(result, [reference])!);
    const t = result.grid?.t;
    const area = t ? new PlotArea(56, 12, 480, 480, [t[0], t[t.length - 1]], [t[0], t[t.length - 1]]) : PlotArea.ofLinePlot({ x: [0, 1], y: [0, 1], series: [] });
    assert.ok(result.boundaries.length > 0, method);
    for (const b of result.boundaries) assert.ok(columnShare(png, area, area.px(b.t), GREEN) > 0.5, `${method}: boundary t = ${b.t} is a solid green line`);
    const dashed = columnShare(png, area, area.px(reference), GREY);
    assert.ok(dashed > 0.3 && dashed < 0.7, `${method}: the reference time is a dashed grey line (${dashed} of the column)`);
    // The curve drawn last passes through each of its points.
    const curve = result.snr ? { t: result.snr.t, y: result.snr.logSnr, color: DARK_BLUE } : result.algorithm1 ? { t: result.algorithm1.t, y: result.algorithm1.s1Above, color: DARK_RED } : null;
    if (curve) {
      const yRange: [number, number] = result.snr ? [Math.floor(Math.min(...curve.y)), Math.ceil(Math.max(...curve.y))] : [0, 1];
      const curveArea = PlotArea.ofLinePlot({ x: [0, 1], y: yRange, series: [] });
      curve.t.forEach((ti, i) => assert.deepEqual(pixel(png, Math.round(curveArea.px(ti)), Math.round(curveArea.py(curve.y[i]))), [...curve.color], `${method} at t = ${ti}`));
    }
  }
  assert.equal(clusterPlot(clusterStages({ ...common, method: 'uniform' })), null);
});

test('a labelled line plot has its title above, and a legend entry in each series colour below', () => {
  const series = [
    { name: 'A', x: [0, 1], y: [0.5, 0.5], color: [255, 0, 0] as const, kind: 'line' as const },
    { name: 'B', x: [0, 1], y: [0.25, 0.25], color: [0, 0, 255] as const, kind: 'line' as const },
  ];
  const png = PNG.sync.read(linePng({ x: [0, 1], y: [0, 1], series }, { title: 'Loss', x: 'images' }));
  // 20 px of title above the 400 px chart; below it an x label row and one legend row.
  assert.deepEqual([png.width, png.height], [640, 20 + 400 + 16 + 16 + 4]);
  const area = new PlotArea(56, 12 + 20, 640 - 56 - 16, 400 - 12 - 34, [0, 1], [0, 1]);
  assert.deepEqual(pixel(png, 300, Math.round(area.py(0.5))), [255, 0, 0], 'the plot moved down under the title');
  const inkRows = (y0: number, y1: number) => {
    let ink = 0;
    for (let y = y0; y < y1; y++) for (let x = 56; x < 200; x++) if (pixel(png, x, y).join() === '40,40,40') ink++;
    return ink;
  };
  assert.ok(inkRows(6, 16) > 20, 'title text');
  const legendY = 400 + 20 + 16 + 4 + 4;
  assert.deepEqual(pixel(png, 60, legendY), [255, 0, 0], 'swatch of A');
  // A's swatch (16) + gap (6) + "A" (6 px) + spacing (16) from the left edge of the plot.
  assert.deepEqual(pixel(png, 56 + 44 + 4, legendY), [0, 0, 255], 'swatch of B');
});
