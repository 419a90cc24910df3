import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PAPER_CIFAR10_BOUNDARIES } from '../../src/stages/stage-partition.js';
import { TRAIN_PRESETS, configReference, presetConfig, resolveTrainConfig } from '../../src/train/config.js';

test('docs/config.md is the reference generated from the schema (regenerate with scripts/gen-config-doc)', () => {
  const doc = readFileSync(join(process.cwd(), 'docs', 'config.md'), 'utf8');
  assert.equal(doc, configReference());
});

test('every preset resolves to a valid config', () => {
  for (const name of Object.keys(TRAIN_PRESETS)) assert.doesNotThrow(() => resolveTrainConfig(presetConfig(name)), name);
});

test('invalid configs are rejected with the field named', () => {
  assert.throws(() => resolveTrainConfig({ training: { batchSize: 0 } }), /training\.batchSize must be >= 1, got 0/);
  assert.throws(() => resolveTrainConfig({ training: { lr: 'fast' } }), /training\.lr must be a number, got "fast"/);
  assert.throws(() => resolveTrainConfig({ trainig: {} }), /trainig is not a known setting/);
  assert.throws(() => resolveTrainConfig({ training: { stageSampling: 'random' } }), /training\.stageSampling must be one of "edm-marginal", "uniform", "per-sample", "balanced", "balanced-batch", "rank", got "random"/);
  assert.throws(() => resolveTrainConfig({ training: { batchSize: 10, microBatch: 4 } }), /microBatch \(4\) must divide training\.batchSize \(10\)/);
  assert.throws(() => resolveTrainConfig({ data: { source: 'cifar10' } }), /data\.path is required for data\.source "cifar10"/);
  assert.throws(() => resolveTrainConfig({ model: { stageBoundaries: [1, 'x'] } }), /model\.stageBoundaries\[1\] must be a number/);
});

test('a multistage model without boundaries is refused: the paper\'s CIFAR-10 values are no silent default', () => {
  for (const kind of ['multistage', 'separate']) {
    assert.throws(() => resolveTrainConfig({ model: { kind } }), new RegExp(`a ${kind} model needs its stage boundaries: model\\.stagesFrom .* or model\\.stageBoundaries`));
  }
  assert.throws(() => resolveTrainConfig({ model: { stageUnits: 'vp-t' }, formulation: { kind: 'vp' } }), /needs its stage boundaries/);
  assert.equal(resolveTrainConfig({ model: { kind: 'unified' } }).model.stageBoundaries, null);
  // the presets name the paper's values through one constant
  assert.deepEqual(resolveTrainConfig(presetConfig('cifar10-edm-multistage')).model.stageBoundaries, [...PAPER_CIFAR10_BOUNDARIES.sigma]);
  assert.deepEqual(resolveTrainConfig(presetConfig('cifar10-vp-multistage')).model.stageBoundaries, [...PAPER_CIFAR10_BOUNDARIES.vpT]);
});
