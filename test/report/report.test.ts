/**
 * The run report's HTML and SVG, read back: each chart's series hold the logged values (to the SVG's
 * 0.01 px rounding), eval points sit at their images and interpolated training minutes, every snapshot's
 * grid and the partition plot are inlined, and nothing points outside the file.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import { MAX_GRIDS, minutesAt, readRun, readRuns, renderReport, spreadIndices } from '../../src/report/index.js';
import { tempDir } from '../data/temp-dir.js';
import { type Points, chartSvg, seriesOf } from './chart-reader.js';
import { writeSyntheticRun } from './synthetic-run.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

/** Points equal to `expected` within the SVG's rounding (0.01 px of the plot's range). */
function assertPoints(actual: Points | undefined, expected: [number, number][], domain: { x: number; y: number }, what: string): void {
  assert.ok(actual, `${what}: no such series`);
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} points, expected ${expected.length}`);
  actual.forEach(([x, y], i) => {
    assert.ok(Math.abs(x - expected[i][0]) <= domain.x * 1e-4, `${what} point ${i}: x ${x}, expected ${expected[i][0]}`);
    assert.ok(Math.abs(y - expected[i][1]) <= domain.y * 1e-4, `${what} point ${i}: y ${y}, expected ${expected[i][1]}`);
  });
}

function domainOf(svg: string): { x: number; y: number } {
  const [x0, x1, y0, y1] = /data-domain="([^"]+)"/.exec(svg)![1].split(' ').map(Number);
  return { x: x1 - x0, y: y1 - y0 };
}

test('the charts of one run hold the logged values', () => {
  const run = writeSyntheticRun(join(tempDir(), 'alpha'));
  const html = renderReport([readRun(run.dir)]);
  const check = (id: string, name: string, expected: [number, number][]) => {
    const svg = chartSvg(html, id);
    assert.ok(svg, `chart ${id} is drawn`);
    assertPoints(seriesOf(svg).get(name), expected, domainOf(svg), `${id}/${name}`);
  };
  check('loss', 'alpha', run.train.map((e) => [e.images, e.loss]));
  check('learning-rate', 'alpha', run.train.map((e) => [e.images, e.lr]));
  check('images-per-second', 'alpha', run.train.map((e) => [e.images, e.imagesPerSecond]));
  check('non-finite-steps', 'alpha', run.train.map((e) => [e.images, e.nonFiniteSteps]));
  for (let s = 0; s < 3; s++) {
    check('loss-per-stage', `stage ${s}`, run.train.filter((e) => e.lossPerStage[s] !== null).map((e) => [e.images, e.lossPerStage[s]!]));
  }
  assert.equal(seriesOf(chartSvg(html, 'loss-per-stage')!).get('stage 1')!.length, 4, 'the interval without stage-1 samples has no point');
  check('fid-vs-images', 'alpha', run.evals.map((e) => [e.images, e.value]));
  // 128 images: the entry at 128 (120 s); 288: halfway between 256 (480 s) and 320 (750 s).
  check('fid-vs-minutes', 'alpha', [[2, run.evals[0].value], [(480 + 0.5 * 270) / 60, run.evals[1].value]]);
  assert.match(html, /truncated line|1 line\(s\) could not be read/);
});

test('evaluations with another sampler form their own curve', () => {
  const run = writeSyntheticRun(join(tempDir(), 'alpha'));
  const dpm = { event: 'eval', metric: 'fid', value: 55, count: 1000, images: 288, sampler: { name: 'dpm-solver-3', steps: 10, precision: 'bf16' } };
  appendFileSync(join(run.dir, 'log.jsonl'), `${JSON.stringify(dpm)}\n`);
  const svg = chartSvg(renderReport([readRun(run.dir)]), 'fid-vs-images')!;
  const series = seriesOf(svg);
  assert.deepEqual([...series.keys()], ['alpha: heun 18 steps fp32, 1000 images', 'alpha: dpm-solver-3 10 steps bf16, 1000 images']);
  assertPoints(series.get('alpha: dpm-solver-3 10 steps bf16, 1000 images'), [[288, 55]], domainOf(svg), 'dpm point');
});

test('training minutes at an image count interpolate the log, and are unknown past its end', () => {
  const points = writeSyntheticRun(join(tempDir(), 'm')).train;
  assert.equal(minutesAt(points, 64), 0.5);
  assert.equal(minutesAt(points, 32), 0.25);
  assert.equal(minutesAt(points, 96), (30 + 0.5 * 90) / 60);
  assert.equal(minutesAt(points, 10_000), null);
});

test('the page inlines every snapshot grid in order and the partition plot, and refers to nothing outside', () => {
  const run = writeSyntheticRun(join(tempDir(), 'alpha'));
  const html = renderReport([readRun(run.dir)]);
  const grids = JSON.parse(/<script type="application\/json">(.*?)<\/script>/s.exec(html)![1]) as { src: string; label: string }[];
  assert.deepEqual(grids.map((g) => g.label), ['100 images', '200 images', '300 images']);
  grids.forEach((g, k) => assert.equal(g.src, `data:image/png;base64,${readFileSync(run.grids[k]).toString('base64')}`));
  assert.ok(html.includes(`src="data:image/png;base64,${readFileSync(run.partitionPlot).toString('base64')}"`), 'the partition plot is inlined');
  assert.match(html, /Content-Security-Policy" content="default-src 'none'/);
  const external = [...html.matchAll(/(?:src|href)="(?!data:)([^"]*)"/g)].map((m) => m[1]);
  assert.deepEqual(external, [], 'every src/href is a data: URI');
  // The environment of each start, escaped.
  assert.match(html, /NVIDIA H200 &lt;test&gt;/);
});

test('several runs share the charts and their differing settings are listed', () => {
  const root = tempDir();
  const a = writeSyntheticRun(join(root, 'a'), 1);
  const b = writeSyntheticRun(join(root, 'b'), 2);
  const html = renderReport([readRun(a.dir), readRun(b.dir)]);
  const loss = seriesOf(chartSvg(html, 'loss')!);
  assert.deepEqual([...loss.keys()], ['a', 'b']);
  assertPoints(loss.get('b'), b.train.map((e) => [e.images, e.loss]), domainOf(chartSvg(html, 'loss')!), 'loss/b');
  assert.ok(chartSvg(html, 'loss-per-stage-1') && chartSvg(html, 'loss-per-stage-2'), 'one per-stage chart per run');
  assert.match(html, /<td>training\.lr<\/td><td>0\.001<\/td><td>0\.002<\/td>/);
  assert.equal((html.match(/class="run-grids"/g) ?? []).length, 2);
  // Folders of the same name are told apart by their paths.
  const same = [writeSyntheticRun(join(root, 'x', 'run')).dir, writeSyntheticRun(join(root, 'y', 'run')).dir];
  assert.deepEqual([...seriesOf(chartSvg(renderReport(readRuns(same)), 'loss')!).keys()], same);
});

test('a run without eval entries, grids or run.json still gets a report that says what is missing', () => {
  const dir = join(tempDir(), 'bare');
  mkdirSync(dir);
  writeFileSync(join(dir, 'log.jsonl'), `${JSON.stringify({ step: 1, images: 16, lr: 1e-3, loss: 0.5, lossPerStage: [0.5], samplesPerStage: [16], imagesPerSecond: 50, elapsedSeconds: 1, nonFiniteSteps: 0 })}\n`);
  const html = renderReport([readRun(dir)]);
  assert.match(html, /no eval entries in log\.jsonl/);
  assert.match(html, /no sample grid yet/);
  assert.match(html, /run\.json is missing/);
  assert.equal(seriesOf(chartSvg(html, 'loss')!).get('bare')!.length, 1);
  const twoRuns = renderReport([readRun(dir), readRun(writeSyntheticRun(join(dir, '..', 'evaluated')).dir)]);
  assert.deepEqual([...seriesOf(chartSvg(twoRuns, 'fid-vs-images')!).keys()], ['evaluated']);
  assert.match(twoRuns, /<span class="missing">bare: no points<\/span>/);
});

test('stagediff report writes the page and PNG charts, and rejects what it cannot use', () => {
  const root = tempDir();
  const run = writeSyntheticRun(join(root, 'alpha'));
  const pngs = join(root, 'pngs');
  const r = cli(['report', run.dir, '--png-dir', pngs]);
  assert.equal(r.status, 0, r.stderr);
  assert.ok(existsSync(join(run.dir, 'report.html')));
  const hasColour = (png: PNG, rgb: number[]) => png.data.some((_, i) => i % 4 === 0 && png.data[i] === rgb[0] && png.data[i + 1] === rgb[1] && png.data[i + 2] === rgb[2]);
  for (const chart of ['loss', 'loss-per-stage', 'learning-rate', 'images-per-second', 'non-finite-steps', 'fid-vs-images', 'fid-vs-minutes']) {
    const png = PNG.sync.read(readFileSync(join(pngs, `${chart}.png`)));
    assert.equal(png.width, 640, chart);
    assert.ok(hasColour(png, [31, 119, 180]), `${chart}: the first series is drawn`);
  }
  const stages = PNG.sync.read(readFileSync(join(pngs, 'loss-per-stage.png')));
  for (const rgb of [[214, 39, 40], [44, 160, 44]]) assert.ok(hasColour(stages, rgb), `loss-per-stage: rgb(${rgb}) is drawn`);
  assert.match(r.stdout, /loss-per-stage\.png: stage 0 rgb\(31,119,180\); stage 1 rgb\(214,39,40\)/);
  const missing = cli(['report', join(root, 'nope')]);
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /run folder .*nope does not exist/);
  assert.match(cli(['report', root]).stderr, /not a stagediff run folder/);
  assert.match(cli(['report']).stderr, /name at least one run folder/);
  assert.match(cli(['report', run.dir, '--bogus']).stderr, /Unknown option '--bogus'/);
  assert.match(cli(['report', run.dir, '--out', join(root, 'x.png')]).stderr, /ending in \.html/);
});

test('a long run puts at most MAX_GRIDS grids in the page, evenly spread, first and last included', () => {
  assert.deepEqual(spreadIndices(3, 100), [0, 1, 2]);
  const picked = spreadIndices(1000, MAX_GRIDS);
  assert.equal(picked.length, MAX_GRIDS);
  assert.equal(picked[0], 0);
  assert.equal(picked.at(-1), 999);
  assert.ok(picked.every((v, i) => i === 0 || (v > picked[i - 1] && v - picked[i - 1] <= 11)), 'increasing, gaps of about 1000/99');
});
