import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PNG } from 'pngjs';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { clusterPlot, clusterStages, heatmapPlot, linePlot } from '../../src/stages/index.js';
import { fourPoints } from './four-points.js';
import { vpLevel } from './vp.js';

T.setBackend(cpuBackend());

function pixel(png: PNG, x: number, y: number): number[] {
  const o = (y * png.width + x) * 4;
  return [...png.data.subarray(o, o + 3)];
}

test('a heatmap paints each cell its value and draws boundaries on both axes', () => {
  const t = [0, 0.25, 0.5, 0.75, 1];
  const matrix = t.map((_, a) => t.map((_, b) => (a === b ? 1 : 0)));
  const png = PNG.sync.read(heatmapPlot(matrix, t, [{ at: 0.5, color: [0, 200, 0] }], 400));
  assert.equal(png.height, 12 + 400 + 34);
  // Plot area starts at (56, 12), 400 px square; t = 0 is at the bottom left.
  assert.deepEqual(pixel(png, 56 + 20, 12 + 400 - 20), [253, 231, 37], 'cell (0, 0) = 1 is yellow');
  assert.deepEqual(pixel(png, 56 + 20, 12 + 20), [68, 1, 84], 'cell (4, 0) = 0 is dark');
  assert.deepEqual(pixel(png, 56 + 200, 12 + 100), [0, 200, 0], 'the boundary at t = 0.5 is a vertical line');
  assert.deepEqual(pixel(png, 56 + 100, 12 + 200), [0, 200, 0], 'and a horizontal one');
});

test('a line plot draws series inside its axes', () => {
  const png = PNG.sync.read(linePlot({ x: [0, 1], y: [0, 1], series: [{ x: [0, 1], y: [0.5, 0.5], color: [255, 0, 0], kind: 'line' }], width: 300, height: 200 }));
  assert.deepEqual([png.width, png.height], [300, 200]);
  const plotHeight = 200 - 12 - 34;
  const y = Math.round(12 + 0.5 * (plotHeight - 1));
  assert.deepEqual(pixel(png, 150, y), [255, 0, 0]);
});

test('every clustering with something to show has a plot', () => {
  const { dataset } = fourPoints(8, 0.5, 0.3, 0.1);
  const common = { stages: 3, levelAt: vpLevel, dataset, gridSize: 10, alpha: 0.8 };
  for (const method of ['optimal-denoiser', 'algorithm1', 'snr'] as const) {
    const png = clusterPlot(clusterStages({ ...common, method, samples: method === 'algorithm1' ? 200 : 8 }), [0.442, 0.631]);
    assert.ok(png && PNG.sync.read(png).width > 0, method);
  }
  assert.equal(clusterPlot(clusterStages({ ...common, method: 'uniform' })), null);
});
