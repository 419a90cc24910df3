/**
 * training.channelsLast reaches the trained network and its EMA: a short run with it logs the losses of
 * the same run in NCHW (dropout off: its masks follow memory order) and writes checkpoints of the same
 * tensors, which load in either layout.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Trainer } from '../../src/train/trainer.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { readSafetensors } from '../../src/nn/safetensors.js';
import { assertClose } from '../helpers/gradcheck.js';
import { tinyMultistageModel } from '../helpers/tiny-model.js';

T.setBackend(cpuBackend());

async function run(channelsLast: boolean): Promise<{ losses: number[]; checkpoint: string; channelsLastSet: boolean[] }> {
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
  return { losses, checkpoint: listCheckpoints(runDir).at(-1)!, channelsLastSet };
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
