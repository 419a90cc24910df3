import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { StagePartition } from '../../src/stages/stage-partition.js';
import { type ClusterOptions, algorithm1Boundaries, clusterStages, denseDataset, sigmaOf } from '../../src/stages/index.js';
import { fourPoints } from './four-points.js';
import { vpLevel } from './vp.js';

T.setBackend(cpuBackend());
const fp = fourPoints();
const base: ClusterOptions = { method: 'optimal-denoiser', stages: 3, levelAt: vpLevel, dataset: fp.dataset, gridSize: 20, samples: 12, seed: 5 };

test('optimal-denoiser: the exact best contiguous stages of the similarity matrix, as sigma, t and steps', () => {
  const progress: [number, number][] = [];
  const result = clusterStages({ ...base, onProgress: (p) => progress.push([p.done, p.total]) });
  const grid = result.grid!;
  assert.equal(grid.weighting, 'per-point');
  const s = grid.x0;
  // Each stage scores the mean similarity of its points to it, times its size (per-point weighting).
  const meanBlock = (i: number, j: number): number => {
    let sum = 0;
    for (let a = i; a < j; a++) for (let b = i; b < j; b++) sum += s[a][b];
    return sum / (j - i);
  };
  let best = { score: -Infinity, starts: [0, 0] };
  for (let i = 1; i < 19; i++) {
    for (let j = i + 1; j < 20; j++) {
      const score = meanBlock(0, i) + meanBlock(i, j) + meanBlock(j, 20);
      if (score > best.score + 1e-12) best = { score, starts: [i, j] };
    }
  }
  assert.deepEqual(grid.starts, best.starts);
  assert.ok(Math.abs(grid.meanWithinStage - best.score / 20) < 1e-12);
  result.boundaries.forEach((b, k) => {
    assert.equal(b.t, (grid.t[grid.starts[k] - 1] + grid.t[grid.starts[k]]) / 2);
    assert.equal(b.sigma, sigmaOf(vpLevel(b.t)));
    assert.equal(b.step, Math.round(b.t * 1000));
  });
  assert.deepEqual(result.partition.boundaries, result.boundaries.map((b) => b.sigma));
  assert.deepEqual(progress.at(-1), [progress.at(-1)![1], progress.at(-1)![1]]);
  // JSON-able, and the partition reads back.
  const json = JSON.parse(JSON.stringify(result));
  assert.deepEqual(StagePartition.fromJSON(json.partition).boundaries, result.partition.boundaries);
  assert.equal(json.settings.space, 'x0');
  // The same seed draws the same samples.
  assert.deepEqual(clusterStages(base).boundaries, result.boundaries);
});

test('optimal-denoiser clusters the epsilon-space matrix, and weighs stages equally, when asked', () => {
  const result = clusterStages({ ...base, space: 'epsilon', weighting: 'per-stage', stages: 2 });
  assert.deepEqual([result.grid!.space, result.grid!.weighting], ['epsilon', 'per-stage']);
  assert.equal(result.boundaries.length, 1);
});

test('algorithm1: t1 < t2 read from the curves at alpha', () => {
  // A wider d than the default, so that the lowest-noise samples reliably return their training point.
  const options: ClusterOptions = { ...base, method: 'algorithm1', dataset: fourPoints(8, 0.5, 0.3, 0.1).dataset, samples: 200 };
  assert.throws(() => clusterStages({ ...options, alpha: 0.6 }), /alpha = 0.6 gives t1 = .* >= t2 = .*: the low and high stages overlap; raise alpha/);
  const result = clusterStages({ ...options, alpha: 0.8 });
  const a = result.algorithm1!;
  assert.deepEqual(algorithm1Boundaries(a, 0.8), { t1: a.t1, t2: a.t2 });
  assert.deepEqual(result.boundaries.map((b) => b.t), [a.t1, a.t2]);
  assert.ok(a.t1! < a.t2!);
  assert.equal(a.t.length, 200);
});

test('baselines need no data', () => {
  const uniform = clusterStages({ method: 'uniform', stages: 3, levelAt: vpLevel, tMin: 0.001 });
  assert.deepEqual(uniform.boundaries.map((b) => b.t), [0.001 + 0.999 / 3, 0.001 + (2 * 0.999) / 3]);
  const snr = clusterStages({ method: 'snr', stages: 3, levelAt: vpLevel });
  assert.deepEqual(snr.boundaries.map((b) => b.step), [348, 709]);
});

test('bad input gives a clear error', () => {
  const empty = denseDataset(new Float32Array(0), 4);
  assert.throws(() => clusterStages({ ...base, stages: 21 }), /cannot cut a grid of 20 points into 21 stages/);
  assert.throws(() => clusterStages({ ...base, method: 'snr', stages: 5, gridSize: 4 }), /cannot cut a grid of 4 points into 5 stages/);
  assert.throws(() => clusterStages({ ...base, method: 'algorithm1', alpha: 0 }), /alpha is an agreement level in \(0, 1\], got 0/);
  assert.throws(() => clusterStages({ ...base, method: 'algorithm1', alpha: 1.5 }), /alpha .* got 1.5/);
  assert.throws(() => clusterStages({ ...base, method: 'algorithm1', stages: 4 }), /exactly 3 stages/);
  assert.throws(() => clusterStages({ ...base, dataset: empty }), /dataset is empty/);
  assert.throws(() => clusterStages({ ...base, dataset: undefined }), /needs the training set/);
  assert.throws(() => clusterStages({ ...base, eta: 0 }), /eta must be a finite number > 0/);
  assert.throws(() => clusterStages({ ...base, tMin: 0 }), /0 < tMin < tMax <= 1/);
  assert.throws(() => clusterStages({ ...base, stages: 0 }), /positive integer/);
  assert.throws(() => clusterStages({ ...base, method: 'kmeans' as never }), /unknown clustering method "kmeans"/);
  assert.throws(() => clusterStages({ ...base, space: 'logits' as never }), /"x0" or "epsilon"/);
  assert.throws(() => clusterStages({ ...base, weighting: 'median' as never }), /stage weighting must be one of/);
});
