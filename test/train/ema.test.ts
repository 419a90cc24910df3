import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { emaInitialShare } from '../../src/train/ema.js';

test("the initial weights' share of the EMA: the product of the steps' decays", () => {
  // The first VP runs' EMA (0.995 per step over 605 steps) kept 4.8% of the initial weights.
  assert.ok(Math.abs(emaInitialShare({ kind: 'constant', decay: 0.995 }, 605, 128) / Math.pow(0.995, 605) - 1) < 1e-12);
  // A half-life in images without ramp-up: half of it after each half-life of images.
  const halfLife = emaInitialShare({ kind: 'halflife', halfLifeImages: 10_000, rampUpRatio: null }, 200, 100);
  assert.ok(Math.abs(halfLife / 0.25 - 1) < 1e-12, `${halfLife}`);
  // With EDM's ramp-up the half-life starts at zero images: the first step forgets the initial weights.
  assert.equal(emaInitialShare({ kind: 'halflife', halfLifeImages: 500_000, rampUpRatio: 0.05 }, 3, 512), 0);
  assert.equal(emaInitialShare({ kind: 'constant', decay: 0.9999 }, 0, 128), 1);
});

test('train warns when the EMA still holds the initial weights at the end of the run, and only then', () => {
  const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
  const train = (dir: string, ema: string[]) =>
    spawnSync(process.execPath, [cli, 'train', '--preset', 'quickstart', '--run-dir', dir, '--device', 'cpu', '--images', '32', '--set', 'data.resolution=8', '--set', 'data.count=64', '--set', 'output.grid.count=1', '--set', 'output.grid.steps=2', ...ema], { encoding: 'utf8' });
  const constant = train(join(mkdtempSync(join(tmpdir(), 'stagediff-ema-')), 'run'), ['--set', 'training.ema.kind=constant', '--set', 'training.ema.decay=0.9999']);
  assert.equal(constant.status, 0, constant.stderr);
  assert.match(constant.stderr, /warning: after 2 steps the EMA still holds 100\.0% of the initial weights/);
  assert.match(constant.stderr, /--set training\.ema\.kind=halflife/);
  const halfLife = train(join(mkdtempSync(join(tmpdir(), 'stagediff-ema-')), 'run'), []);
  assert.equal(halfLife.status, 0, halfLife.stderr);
  assert.doesNotMatch(halfLife.stderr, /warning: after/);
});
