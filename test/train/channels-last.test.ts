/**
 * training.channelsLast reaches the trained network and its EMA: a short run with it logs the losses of
 * the same run in NCHW (dropout off: its masks follow memory order) and writes checkpoints of the same
 * tensors; `sample --channels-last` draws the images `sample` draws.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Trainer } from '../../src/train/trainer.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { readSafetensors } from '../../src/nn/safetensors.js';
import { readNpz } from '../../src/data/npz.js';
import { assertClose } from '../helpers/gradcheck.js';
import { tinyMultistageModel } from '../helpers/tiny-model.js';

T.setBackend(cpuBackend());
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

async function run(channelsLast: boolean): Promise<{ losses: number[]; checkpoint: string; channelsLastSet: boolean[]; runDir: string }> {
  const model = tinyMultistageModel();
  (model.network as Record<string, unknown>).dropout = 0;
  const runDir = join(mkdtempSync(join(tmpdir(), 'stagediff-nhwc-')), 'run');
  const trainer = await Trainer.create({
    runDir,
    device: 'cpu',
    data: { source: 'shapes', resolution: 8, count: 64 },
    model,
    training: { totalImages: 96, batchSize: 16, lr: 2e-3, lrRampUpImages: 32, stageSampling: 'balanced', channelsLast },
    output: { logEveryImages: 16, checkpointEveryImages: 96, snapshotEveryImages: 100000, grid: { count: 4, steps: 2 } },
  });
  const channelsLastSet = [trainer.model.net.channelsLast, trainer.ema.net.channelsLast];
  const result = await trainer.run();
  const losses = readFileSync(result.log, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { loss: number }).loss);
  return { losses, checkpoint: listCheckpoints(runDir).at(-1)!, channelsLastSet, runDir };
}

test('training.channelsLast trains as NCHW does: the same losses and checkpoint tensors', async () => {
  const nchw = await run(false);
  const nhwc = await run(true);
  assert.deepEqual(nchw.channelsLastSet, [false, false]);
  assert.deepEqual(nhwc.channelsLastSet, [true, true], 'the trained network and its EMA run channels last');
  assert.equal(nhwc.losses.length, nchw.losses.length);
  assert.ok(nchw.losses.length >= 6);
  assertClose(nhwc.losses, nchw.losses, 1e-5, 'logged losses');
  const a = readSafetensors(nchw.checkpoint).tensors;
  const b = readSafetensors(nhwc.checkpoint).tensors;
  assert.deepEqual([...b.keys()], [...a.keys()], 'checkpoint names');
  for (const [name, t] of a) {
    assert.deepEqual(b.get(name)!.shape, t.shape, `${name} keeps its shape`);
    if (t.dtype === 'float32' && !name.startsWith('optimizer')) assertClose(b.get(name)!.data as Float32Array, t.data as Float32Array, 1e-4, name);
  }
});

test('sample --channels-last draws the images sample draws', async () => {
  const { runDir } = await run(false);
  const images = (flags: string[]): Uint8Array => {
    const out = join(runDir, `${flags.length ? 'nhwc' : 'nchw'}.npz`);
    const r = spawnSync(process.execPath, [CLI, 'sample', '--checkpoint', runDir, '--count', '4', '--steps', '4', '--device', 'cpu', '--out', out, ...flags], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(/on cpu, channels last/.test(r.stdout), flags.length > 0, r.stdout);
    return readNpz(out).get('arr_0')!.data as Uint8Array;
  };
  const nchw = images([]);
  const nhwc = images(['--channels-last']);
  assert.equal(nhwc.length, nchw.length);
  // 8-bit images of float results equal to ~1e-6: a value on a rounding boundary may land one level apart
  const worst = nchw.reduce((m, v, i) => Math.max(m, Math.abs(v - nhwc[i])), 0);
  assert.ok(worst <= 1, `pixels differ by up to ${worst} levels`);
  assert.ok(new Set(nchw).size > 1, 'the images are not constant');
});
