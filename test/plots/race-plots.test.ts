/**
 * The quality race's records and curves (scripts/race-results.ts): a line per evaluated checkpoint built
 * from its header and its run's log, and FD curves drawn where the values are.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { PALETTE, PlotArea, dataRange, raceCurvesPng } from '../../src/plots/index.js';
import { Trainer } from '../../src/train/trainer.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';

T.setBackend(cpuBackend());

function pixel(png: PNG, x: number, y: number): number[] {
  const o = (Math.round(y) * png.width + Math.round(x)) * 4;
  return [...png.data.subarray(o, o + 3)];
}

test('race curves: one line per configuration through its points, against minutes or images', () => {
  const points = [
    { name: 'unified', minutes: 2, images: 200_000, fd: 10 },
    { name: 'unified', minutes: 4, images: 400_000, fd: 6 },
    { name: 'multistage', minutes: 4, images: 300_000, fd: 12 },
    { name: 'multistage', minutes: 2, images: 150_000, fd: 16 },
  ];
  for (const axis of ['minutes', 'images'] as const) {
    const png = PNG.sync.read(raceCurvesPng(points, axis, 'FD_featnet'));
    // The title row (16 + 4 px) sits above the standard plot area.
    const base = PlotArea.ofLinePlot({ x: [0, 1], y: [0, 1], series: [] });
    const area = new PlotArea(base.left, base.top + 20, base.width, base.height, dataRange(points.map((p) => p[axis]), true), dataRange(points.map((p) => p.fd), true));
    const midpoint = (a: (typeof points)[number], b: (typeof points)[number]) => [(area.px(a[axis]) + area.px(b[axis])) / 2, (area.py(a.fd) + area.py(b.fd)) / 2];
    const [ux, uy] = midpoint(points[0], points[1]);
    const [mx, my] = midpoint(points[3], points[2]);
    assert.deepEqual(pixel(png, ux, uy), [...PALETTE[0]], `${axis}: the first configuration's line`);
    assert.deepEqual(pixel(png, mx, my), [...PALETTE[1]], `${axis}: the second configuration's line, its points sorted along x`);
  }
  assert.throws(() => raceCurvesPng([], 'minutes'), /no results/);
});

test('race-results.js record: minutes, images, images/s and loss from the checkpoint and its log, FD from its eval entry; plot draws both curves', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagediff-race-'));
  const runDir = join(dir, 'run');
  await (
    await Trainer.create({
      runDir,
      device: 'cpu',
      data: { source: 'shapes', resolution: 8, count: 16 },
      model: { kind: 'unified', network: { channel_mult: [1], num_blocks: 1, attn_resolutions: [], model_channels: 4 } },
      training: { totalImages: 16, batchSize: 4 },
      output: { logEveryImages: 8, grid: { count: 1, steps: 2 } },
    })
  ).run();
  const checkpoint = listCheckpoints(runDir).at(-1)!;
  const script = fileURLToPath(new URL('../../scripts/race-results.js', import.meta.url));
  const results = join(dir, 'results.jsonl');
  const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });

  const missing = run('record', '--name', 'tiny', '--checkpoint', checkpoint, '--out', results);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /no eval entry in its log\.jsonl: run `stagediff eval/);
  // What `stagediff eval --checkpoint` appends to the run's log.
  appendFileSync(join(runDir, 'log.jsonl'), `${JSON.stringify({ event: 'eval', metric: 'FD_featnet', value: 12.5, count: 100, images: 16, checkpoint: basename(checkpoint) })}\n`);
  const r = run('record', '--name', 'tiny', '--checkpoint', checkpoint, '--out', results);
  assert.equal(r.status, 0, r.stderr);
  const line = JSON.parse(readFileSync(results, 'utf8').trim()) as Record<string, number | string>;
  const log = readFileSync(join(runDir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, number>);
  const lastTraining = log.filter((e) => e.event === undefined).at(-1)!;
  assert.equal(line.name, 'tiny');
  assert.equal(line.metric, 'FD_featnet');
  assert.equal(line.fd, 12.5);
  assert.equal(line.count, 100);
  assert.equal(line.images, 16);
  assert.equal(line.loss, lastTraining.loss);
  assert.ok(Math.abs((line.minutes as number) * 60 - lastTraining.elapsedSeconds) < 1e-9, `${line.minutes} min vs ${lastTraining.elapsedSeconds} s logged`);
  assert.ok(Math.abs((line.imagesPerSecond as number) - 16 / lastTraining.elapsedSeconds) < 1e-6);

  const plots = run('plot', '--results', results, '--out', join(dir, 'plots'));
  assert.equal(plots.status, 0, plots.stderr);
  for (const axis of ['minutes', 'images']) assert.ok(existsSync(join(dir, 'plots', `race-fd-${axis}.png`)));
  const bad = run('plot', '--results', results, '--out', join(dir, 'plots'), '--bogus');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /bogus/);
});
