/**
 * `stagediff sample` at scale, as a user runs it: npz output identical across runs and batch sizes, a split
 * run equal to the slice of the whole, one PNG per image in a folder, and outputs that cannot be written
 * refused before any work, with nothing written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PNG } from 'pngjs';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Trainer } from '../../src/train/trainer.js';
import { readNpz } from '../../src/data/npz.js';

T.setBackend(cpuBackend());
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'stagediff-sample-'));
const runDir = join(dir, 'run');

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, 'sample', '--checkpoint', runDir, '--device', 'cpu', '--steps', '4', ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[]): string {
  const r = cli(args);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

test.before(async () => {
  const trainer = await Trainer.create({
    runDir,
    device: 'cpu',
    data: { source: 'shapes', resolution: 8, count: 64 },
    model: { kind: 'multistage', stageBoundaries: [2.5103, 7.6577], network: { channel_mult: [1, 2], num_blocks: 1, attn_resolutions: [4], en_model_channels: 8, de_model_channels: [8, 8, 4] } },
    training: { totalImages: 32, batchSize: 16, lr: 2e-3, lrRampUpImages: 16, ema: { halfLifeImages: 16 } },
    output: { logEveryImages: 32, checkpointEveryImages: 32, snapshotEveryImages: 100000, grid: { count: 1, steps: 2 } },
  });
  await trainer.run();
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('--out x.npz: the same bytes twice and for any batch size; a split run is the slice of the whole; a grid beside it', () => {
  const a = join(dir, 'a.npz');
  const stdout = ok(['--count', '40', '--batch', '16', '--out', a]);
  assert.match(stdout, /40 images \(0 \.\. 39, seeds from 0\)/);
  assert.match(stdout, /7 network evaluations \(per stage \d+ \/ \d+ \/ \d+\) per image/);
  const again = join(dir, 'again.npz');
  ok(['--count', '40', '--batch', '16', '--out', again]);
  assert.deepEqual(readFileSync(again), readFileSync(a));
  const batch7 = join(dir, 'b7.npz');
  ok(['--count', '40', '--batch', '7', '--out', batch7]);
  assert.deepEqual(readFileSync(batch7), readFileSync(a));
  const images = readNpz(a).get('arr_0')!;
  assert.deepEqual(images.shape, [40, 8, 8, 3]);
  assert.equal(images.dtype, '|u1');
  assert.ok(new Set(images.data).size > 20, 'the images are not constant');
  const part = join(dir, 'part.npz');
  ok(['--first', '10', '--count', '5', '--out', part]);
  assert.deepEqual(readNpz(part).get('arr_0')!.data, images.data.subarray(10 * 192, 15 * 192));
  // The grid beside it shows the first 64 (here all 40): 7 columns of 8-pixel images with 2-pixel gaps, magnified 6x.
  const grid = PNG.sync.read(readFileSync(join(dir, 'a.png')));
  assert.deepEqual([grid.width, grid.height], [(7 * 10 + 2) * 6, (6 * 10 + 2) * 6]);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp-')), [], 'no temporary files left');
});

test('--out FOLDER: one PNG per image named by its seed, the pixels of the npz', () => {
  const folder = join(dir, 'pngs');
  ok(['--first', '2', '--count', '3', '--seed', '5', '--out', `${folder}/`]);
  assert.deepEqual(readdirSync(folder).sort(), ['000007.png', '000008.png', '000009.png']);
  assert.ok(existsSync(`${folder}.png`), 'the grid beside the folder');
  const whole = readNpz(join(dir, 'a.npz')).get('arr_0')!.data;
  const png = PNG.sync.read(readFileSync(join(folder, '000008.png')));
  assert.deepEqual([png.width, png.height], [8, 8]);
  const rgb = Uint8Array.from({ length: 192 }, (_, i) => png.data[Math.floor(i / 3) * 4 + (i % 3)]);
  assert.deepEqual(rgb, whole.subarray(8 * 192, 9 * 192), 'seed 8 is image 8 of the seed-0 run');
});

test('--sampler dpm-solver --order 2 runs with the order asked; samplers and their settings come from the registry', () => {
  const o2 = ok(['--sampler', 'dpm-solver', '--order', '2', '--count', '2', '--out', join(dir, 'o2.png')]);
  assert.match(o2, /4 network evaluations \(per stage [0-9 /]+\) per image/);
  const help = spawnSync(process.execPath, [CLI, 'sample', '--help'], { encoding: 'utf8' }).stdout;
  for (const name of ['heun', 'euler', 'dpm-solver', 'dpm-solver++', 'ddim']) assert.match(help, new RegExp(`\\n {25}${name.replace(/\+/g, '\\+')} +\\S`), name);
  assert.doesNotMatch(help, /dpm-solver-[123]/);
  const cases: [string[], RegExp][] = [
    [['--sampler', 'dpm-solver-3'], /--sampler must be one of heun, euler, dpm-solver, dpm-solver\+\+, ddim, got "dpm-solver-3"/],
    [['--order', '2'], /--order applies to the dpm-solver sampler, not heun/],
    [['--sampler', 'dpm-solver', '--order', '4'], /--order must be 1, 2 or 3, got "4"/],
    [['--sampler', 'ddim', '--churn', '5'], /--churn applies to the heun and euler samplers, not ddim/],
  ];
  for (const [args, message] of cases) {
    const r = cli([...args, '--out', join(dir, 'never.png')]);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, message);
  }
  assert.ok(!existsSync(join(dir, 'never.png')));
});

test('outputs that cannot be written are refused before any work (even before the checkpoint is read), writing nothing', () => {
  const bad = join(dir, 'bad');
  const cases: [string[], RegExp][] = [
    [['--out', join(bad, 'missing', 'x.npz')], /x\.npz: the folder .*missing does not exist; create it first/],
    [['--out', join(bad, 'missing', 'deeper', 'pngs/')], /pngs\/?: the folder .*missing.deeper does not exist/],
    [['--out', join(dir, 'x.jpg')], /--out .*x\.jpg: cannot write \.jpg files; give a \.png \(a grid\), an \.npz \(every image\) or a folder/],
    [['--out', join(dir, 'y.npz'), '--grid', join(dir, 'y.gif')], /--grid .*y\.gif: the grid is a PNG/],
    [['--out', join(dir, 'z.png'), '--count', '65'], /a grid holds the first 64 images; for 65, give an \.npz or a folder/],
  ];
  for (const [args, message] of cases) {
    // A checkpoint that does not exist: the output's error must come first.
    const r = spawnSync(process.execPath, [CLI, 'sample', '--checkpoint', join(dir, 'no-such-run'), '--device', 'cpu', ...args], { encoding: 'utf8' });
    assert.notEqual(r.status, 0, args.join(' '));
    assert.match(r.stderr, message);
  }
  assert.ok(!existsSync(bad));
  for (const f of ['x.jpg', 'y.npz', 'y.png', 'y.gif', 'z.png']) assert.ok(!existsSync(join(dir, f)), f);
});
