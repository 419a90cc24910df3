/**
 * Training with EDM's augmentation (training.augment): the labels reach the network's map_augment layer
 * (and nothing reaches it without augmentation), sampling's absent labels equal zero labels, a resumed
 * run is bit-exact, and a network without augmentation labels is refused with the fix named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Trainer } from '../../src/train/trainer.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { readSafetensors } from '../../src/nn/safetensors.js';
import type { EDMPrecond } from '../../src/models/edm-precond.js';

T.setBackend(cpuBackend());

function config(runDir: string, augment: number | null, augmentDim = 9): Record<string, unknown> {
  return {
    runDir,
    device: 'cpu',
    data: { source: 'shapes', resolution: 8, count: 64 },
    model: { kind: 'multistage', stageBoundaries: [2.5103, 7.6577], network: { channel_mult: [1], num_blocks: 1, attn_resolutions: [], en_model_channels: 8, de_model_channels: [8, 8, 4], augment_dim: augmentDim } },
    training: { totalImages: 96, batchSize: 16, lr: 2e-3, lrRampUpImages: 16, stageSampling: 'balanced-batch', stageShares: [0.5, 0.3, 0.2], augment, ema: { halfLifeImages: 32 } },
    output: { logEveryImages: 32, checkpointEveryImages: 48, snapshotEveryImages: 100000, keepCheckpoints: 10, grid: { count: 1, steps: 2 } },
  };
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'stagediff-augment-'));
const mapAugment = (path: string) => readSafetensors(path).tensors.get('net.model.map_augment.weight')!.data as Float32Array;

test('augmentation labels train map_augment; without augmentation it keeps its initial weights', async () => {
  for (const augment of [null, 0.5]) {
    const dir = tempDir();
    const trainer = await Trainer.create(config(dir, augment));
    const initial = Float32Array.from(new Map(trainer.model.net.namedParameters()).get('model.map_augment.weight')!.toFloat32Array());
    await trainer.run({ stopAtImages: 32 });
    const trained = mapAugment(listCheckpoints(dir).at(-1)!);
    const changed = trained.some((v, i) => v !== initial[i]);
    assert.equal(changed, augment !== null, `augment ${augment}: map_augment ${changed ? 'changed' : 'unchanged'}`);
  }
});

test('absent augmentation labels (sampling) are zero labels', async () => {
  const trainer = await Trainer.create(config(tempDir(), 0.12));
  const net = trainer.ema.net as EDMPrecond;
  const x = new T.Generator(3).normal([2, 3, 8, 8]);
  const sigma = [0.5, 9];
  const a = net.forward(x, sigma).toFloat32Array();
  const b = net.forward(x, sigma, { augmentLabels: T.zeros([2, 9]) }).toFloat32Array();
  assert.deepEqual(a, b);
  const c = net.forward(x, sigma, { augmentLabels: T.fromArray(new Float32Array(18).fill(1), [2, 9]) }).toFloat32Array();
  assert.notDeepEqual(a, c, 'the labels reach the network');
});

test('a run with augmentation resumes bit for bit', async () => {
  const straight = tempDir();
  await (await Trainer.create(config(straight, 0.5))).run();
  const split = tempDir();
  await (await Trainer.create(config(split, 0.5))).run({ stopAtImages: 48 });
  await (await Trainer.create(config(split, 0.5), { resume: true })).run();
  const a = readSafetensors(listCheckpoints(straight).at(-1)!).tensors;
  const b = readSafetensors(listCheckpoints(split).at(-1)!).tensors;
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, t] of a) assert.ok(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(b.get(k)!.data.buffer, b.get(k)!.data.byteOffset, b.get(k)!.data.byteLength)), `${k} differs after resuming`);
});

test('augmentation needs a network with 9 augmentation labels; the probability is checked', async () => {
  await assert.rejects(Trainer.create(config(tempDir(), 0.12, 0)), /training\.augment needs a network that takes EDM's 9 augmentation labels: set model\.network\.augment_dim to 9 \(it is 0\)/);
  await assert.rejects(Trainer.create(config(tempDir(), 1.5)), /training\.augment must be <= 1, got 1\.5/);
});
