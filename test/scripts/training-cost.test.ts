/**
 * scripts/training-cost.ts: the stage masses against the log-normal integrated another way, the training
 * shares of each stage sampling, the mean forward MACs per image as the share-weighted sum, and a
 * multistage path whose decoder is as wide as its encoder costing what the unified network of that width
 * costs (the CPU proxy's comparison, docs/results.md).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { presetConfig, resolveTrainConfig } from '../../src/train/config.js';
import { setPath } from '../../src/config/schema.js';
import { trainingCost } from '../../scripts/training-cost.js';

T.setBackend(cpuBackend());

const BOUNDARIES = [1, 5];

function config(sets: Record<string, string>) {
  const raw = presetConfig('quickstart');
  for (const [path, value] of Object.entries({ 'model.stageBoundaries': JSON.stringify(BOUNDARIES), ...sets })) setPath(raw, path, value);
  return resolveTrainConfig(raw);
}

/** P(lo < sigma <= hi) for ln sigma ~ N(mean, std^2), by Simpson's rule on the normal density. */
function logNormalMass(lo: number, hi: number, mean: number, std: number): number {
  const a = lo === 0 ? mean - 12 * std : Math.log(lo);
  const b = hi === Infinity ? mean + 12 * std : Math.log(hi);
  const n = 20000;
  const h = (b - a) / n;
  const f = (x: number) => Math.exp(-0.5 * ((x - mean) / std) ** 2) / (std * Math.sqrt(2 * Math.PI));
  let sum = f(a) + f(b);
  for (let i = 1; i < n; i++) sum += (i % 2 ? 4 : 2) * f(a + i * h);
  return (sum * h) / 3;
}

test('per-sample trains each stage at its mass under the log-normal; balanced at the normalised shares; uniform equally', () => {
  const perSample = config({ 'training.stageSampling': 'per-sample' });
  const { pMean, pStd } = perSample.formulation;
  const edges = [0, ...BOUNDARIES, Infinity];
  const cost = trainingCost(perSample);
  cost.stages.forEach((s, k) => {
    // The library's erfc carries a relative error of up to 1.2e-7 (src/util/normal.ts).
    const exact = logNormalMass(edges[k], edges[k + 1], pMean, pStd);
    assert.ok(Math.abs(s.mass - exact) < 3e-7, `stage ${k}: ${s.mass} against ${exact}`);
    assert.equal(s.share, s.mass);
  });
  const balanced = trainingCost(config({ 'training.stageSampling': 'balanced', 'training.stageShares': '[2,1,1]' }));
  assert.deepEqual(balanced.stages.map((s) => s.share), [0.5, 0.25, 0.25]);
  assert.deepEqual(balanced.stages.map((s) => s.mass), cost.stages.map((s) => s.mass));
  const expected = balanced.stages.reduce((a, s) => a + s.share * s.forwardMacs, 0);
  assert.equal(balanced.forwardMacsPerImage, expected);
  const uniform = trainingCost(config({ 'training.stageSampling': 'uniform' }));
  assert.deepEqual(uniform.stages.map((s) => s.share), [1 / 3, 1 / 3, 1 / 3]);
});

test('a decoder as wide as the encoder costs the unified network of that width; narrower decoders less', () => {
  const multistage = trainingCost(config({ 'model.network.de_model_channels': '[16,8,8]' }));
  const unified = trainingCost(
    config({ 'model.kind': '"unified"', 'model.stageBoundaries': 'null', 'model.network': '{"augment_dim":0,"dropout":0,"channel_mult":[1,1,1],"num_blocks":1,"attn_resolutions":[],"model_channels":16}' }),
  );
  assert.equal(unified.stages.length, 1);
  assert.equal(unified.stages[0].share, 1);
  assert.equal(unified.forwardMacsPerImage, unified.stages[0].forwardMacs);
  assert.equal(multistage.stages[0].forwardMacs, unified.stages[0].forwardMacs);
  assert.equal(multistage.stages[0].pathParameters, unified.totalParameters);
  assert.ok(multistage.stages[1].forwardMacs < multistage.stages[0].forwardMacs, `${multistage.stages.map((s) => s.forwardMacs)}`);
  assert.equal(multistage.stages[1].forwardMacs, multistage.stages[2].forwardMacs);
});
