import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { StagePartition } from '../../src/stages/stage-partition.js';
import { sample } from '../../src/diffusion/index.js';
import { assertReproducesMixture, mixture2d, recording } from './mixture-helpers.js';

T.setBackend(cpuBackend());

const cifarStages = new StagePartition([2.5103, 7.6577]);

test('EDM Heun, 18 steps: the rho = 7 noise levels from 80 to 0.002, 35 evaluations, 18 / 4 / 13 per stage', () => {
  const rec = recording(mixture2d.denoiser());
  const result = sample({ model: rec.denoiser, shape: [2, 1, 1], batch: 64, seed: 3, partition: cifarStages });
  // Karras et al. eq. 5, written out independently of the library.
  const levels = Array.from({ length: 18 }, (_, i) => (80 ** (1 / 7) + (i / 17) * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7);
  assert.ok(Math.abs(levels[0] - 80) < 1e-12 && Math.abs(levels[17] - 0.002) < 1e-15);
  // Step i evaluates at sigma_i and, except on the last step to 0, again at sigma_{i+1}.
  const expected = levels.flatMap((s, i) => (i < 17 ? [s, levels[i + 1]] : [s]));
  assert.deepEqual(rec.sigmas, expected.map(Math.fround));
  assert.equal(result.evaluations, 35);
  assert.deepEqual(result.evaluationsPerStage, [18, 4, 13]);
  assert.equal(rec.sigmas.length, 35);
});

test('EDM Heun reproduces the Gaussian mixture (means, covariances, weights of 4000 samples)', () => {
  const { images } = sample({ model: mixture2d.denoiser(), shape: [2, 1, 1], batch: 4000, seed: 11, steps: 32 });
  assertReproducesMixture(mixture2d, images.toFloat32Array(), 0);
});

test('EDM Euler reproduces the Gaussian mixture with enough steps', () => {
  const { images, evaluations } = sample({ model: mixture2d.denoiser(), shape: [2, 1, 1], batch: 4000, seed: 12, sampler: 'euler', steps: 200 });
  assert.equal(evaluations, 200);
  assertReproducesMixture(mixture2d, images.toFloat32Array(), 0);
});

test('stochastic EDM Heun (S_churn) reproduces the mixture, and its noise comes from the seed', () => {
  const churned = { name: 'heun', churn: 30, sMin: 0.01, sMax: 50 } as const;
  const run = (seed: number) => sample({ model: mixture2d.denoiser(), shape: [2, 1, 1], batch: 4000, seed, sampler: churned, steps: 64 });
  const a = run(13);
  assert.equal(a.evaluations, 127);
  assertReproducesMixture(mixture2d, a.images.toFloat32Array(), 0);
  assert.deepEqual(a.images.toFloat32Array(), run(13).images.toFloat32Array());
  // Churn changes the result: the same seed without churn ends elsewhere.
  const plain = sample({ model: mixture2d.denoiser(), shape: [2, 1, 1], batch: 4000, seed: 13, steps: 64 });
  assert.notDeepEqual(a.images.toFloat32Array(), plain.images.toFloat32Array());
});
