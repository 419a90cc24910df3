/**
 * Data-parallel training on two real GPUs: `stagediff train --gpus 2` (the launcher, the rendezvous, NCCL,
 * gradient buckets overlapped with backward) trains the weights one process on one GPU trains with the
 * same batch, up to the rounding of the sums' order. Skips without two GPUs or NCCL.
 * On a machine with two or more GPUs: node --test dist/test/distributed/nccl-group.test.js
 * (scripts/gpu-multi.sh runs it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../../src/tensor/index.js';
import { cudaBackend, probeCuda } from '../../src/backend/cuda/index.js';
import { loadDriver } from '../../src/backend/cuda/driver.js';
import { probeNccl } from '../../src/distributed/nccl.js';
import { Trainer } from '../../src/train/trainer.js';
import { readCheckpoint, withPrefix } from '../../src/train/checkpoint.js';
import { largestDifference } from '../helpers/weights.js';
import { tinyMultistageModel } from '../helpers/tiny-model.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function gpuCount(): number {
  const d = loadDriver();
  const count = [0];
  return d.cuInit(0) === 0 && d.cuDeviceGetCount(count) === 0 ? count[0] : 0;
}

const cuda = probeCuda();
const nccl = probeNccl();
const skip = !cuda.available ? `no usable CUDA GPU: ${cuda.missing.join('; ')}` : 'missing' in nccl ? `no NCCL: ${nccl.missing}` : gpuCount() < 2 ? `one GPU visible: this test needs two` : false;

/** The CPU test's tiny multistage run (dropout on, one stage per micro-batch) on the GPU in fp32. */
function config(runDir: string): Record<string, unknown> {
  return {
    runDir,
    device: 'cuda',
    precision: 'fp32',
    data: { source: 'shapes', resolution: 8, count: 64 },
    model: tinyMultistageModel(),
    training: { totalImages: 48, batchSize: 8, microBatch: 4, lr: 2e-3, lrRampUpImages: 16, adam: { eps: 1 }, gradientBucketMiB: 1 / 256, ema: { halfLifeImages: 16 } },
    output: { logEveryImages: 16, checkpointEveryImages: 48, snapshotEveryImages: 100000, grid: { count: 1, steps: 2 } },
  };
}

function asRecord(tensors: Iterable<readonly [string, { toFloat32Array(): Float32Array } | { data: ArrayLike<number> }]>): Record<string, Float32Array> {
  return Object.fromEntries([...tensors].map(([k, t]) => [k, 'data' in t ? Float32Array.from(t.data) : t.toFloat32Array()]));
}

test('2 GPUs with batch 8 train the weights of 1 GPU with batch 8, up to the rounding of the sums', { skip }, async () => {
  T.setBackend(cudaBackend({ math: 'fp32' }));
  const trainer = await Trainer.create(config(mkdtempSync(join(tmpdir(), 'stagediff-1gpu-'))));
  const before = asRecord(trainer.model.net.stateDict());
  await trainer.run();
  const alone = asRecord(trainer.model.net.stateDict());

  const dir = mkdtempSync(join(tmpdir(), 'stagediff-2gpu-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(config(join(dir, 'run'))));
  const r = spawnSync(process.execPath, [CLI, 'train', '--gpus', '2', '--config', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, `train --gpus 2 failed:\n${r.stdout}\n${r.stderr}`);
  const group = asRecord(withPrefix(readCheckpoint(join(dir, 'run')).tensors, 'net'));
  const { worst, unequal } = largestDifference(before, alone, group);
  console.log(`2 GPUs vs 1: largest difference ${worst.toExponential(2)} of the largest change, ${unequal} weights not bit-equal`);
  assert.ok(worst < 1e-4, `2 GPUs: weights differ from one GPU's by ${worst} of the largest change`);
});
