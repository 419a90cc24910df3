/**
 * Every training preset (and the separate arm of each paper setup) trains two steps with its own
 * formulation, stage partition and stage sampling; only the network's widths, depth and the data shrink
 * (procedural 16x16 shapes) so that it runs in seconds on a CPU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { TRAIN_PRESETS, presetConfig, resolveTrainConfig } from '../../src/train/config.js';
import { partitionFromConfig } from '../../src/train/diffusion-model.js';
import { Trainer } from '../../src/train/trainer.js';

T.setBackend(cpuBackend());

const TINY_WIDTHS = {
  unified: { model_channels: 8 },
  multistage: { en_model_channels: 8, de_model_channels: [8, 8, 4] },
  separate: { stage_model_channels: [8, 8, 4] },
} as const;

/** The preset with its network narrowed to width 8, one block per level, on 16x16 shapes; everything else as the preset has it. */
function shrunk(name: string, kind: keyof typeof TINY_WIDTHS | null, runDir: string): Record<string, unknown> {
  const c = presetConfig(name) as { model: { kind: string; network: Record<string, unknown> } } & Record<string, unknown>;
  const structure = Object.fromEntries(Object.entries(c.model.network).filter(([key]) => !key.endsWith('model_channels')));
  const modelKind = kind ?? (c.model.kind as keyof typeof TINY_WIDTHS);
  return {
    ...c,
    runDir,
    device: 'cpu',
    data: { source: 'shapes', path: null, resolution: 16, count: 8 },
    model: { ...c.model, kind: modelKind, network: { ...structure, num_blocks: 1, ...TINY_WIDTHS[modelKind] } },
    training: { ...(c.training as object), totalImages: 8, batchSize: 4 },
    output: { logEveryImages: 4, checkpointEveryImages: 1000, snapshotEveryImages: 1000, keepCheckpoints: 1, grid: { count: 1, steps: 2, seed: 1 } },
  };
}

const CASES: [string, keyof typeof TINY_WIDTHS | null][] = [
  ...Object.keys(TRAIN_PRESETS).map((name) => [name, null] as [string, null]),
  ['cifar10-edm-multistage-paper', 'separate'],
  ['cifar10-vp-multistage', 'separate'],
];

test('the case list covers every preset', () => {
  assert.deepEqual(new Set(CASES.map(([n]) => n)), new Set(Object.keys(TRAIN_PRESETS)));
  assert.ok(Object.keys(TRAIN_PRESETS).includes('cifar10-vp-unified') && Object.keys(TRAIN_PRESETS).includes('cifar10-vp-multistage'));
});

for (const [name, kind] of CASES) {
  test(`preset ${name}${kind ? ` as a ${kind} model` : ''} trains two steps with its formulation, stages and stage sampling`, async () => {
    const raw = shrunk(name, kind, mkdtempSync(join(tmpdir(), 'stagediff-preset-')));
    const preset = resolveTrainConfig(presetConfig(name));
    const trainer = await Trainer.create(raw);
    const c = trainer.config;
    assert.equal(c.formulation.kind, preset.formulation.kind);
    assert.equal(c.training.stageSampling, preset.training.stageSampling);
    assert.deepEqual(trainer.model.partition.boundaries, partitionFromConfig(preset.model, preset.formulation).boundaries);
    assert.equal(trainer.model.partition.numStages, preset.model.kind === 'unified' ? 1 : 3);
    const result = await trainer.run();
    assert.equal(result.steps, 2);
    assert.ok(result.checkpoint !== null && result.grid !== null);
    const lines = readFileSync(result.log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number; samplesPerStage: number[] });
    assert.equal(lines.length, 2);
    for (const l of lines) {
      assert.ok(Number.isFinite(l.loss) && l.loss > 0, `loss ${l.loss}`);
      assert.equal(l.samplesPerStage.reduce((a, b) => a + b, 0), 4);
    }
  });
}

test('a preset field set to null is dropped: the multistage preset trains as separate U-Nets with its decoder widths nulled', async () => {
  const base = shrunk('cifar10-edm-multistage', null, mkdtempSync(join(tmpdir(), 'stagediff-preset-'))) as { model: { network: Record<string, unknown> }; training: Record<string, unknown> };
  const separate = { ...base, model: { ...base.model, kind: 'separate', network: { ...base.model.network, stage_model_channels: [8, 8, 4] } }, training: { ...base.training, sharedDecoderImages: 0 } };
  await assert.rejects(Trainer.create(separate), /network\.en_model_channels is not an option of SeparateUNets .*--set model\.network\.en_model_channels=null/);
  const nulled = { ...separate, model: { ...separate.model, network: { ...separate.model.network, en_model_channels: null, de_model_channels: null } } };
  const result = await (await Trainer.create(nulled)).run();
  assert.equal(result.steps, 2);
});

test('a unified network takes stage boundaries for its stage sampling alone: the multistage recipe\'s shares on DDPM++', async () => {
  const base = shrunk('cifar10-edm-ddpmpp', null, mkdtempSync(join(tmpdir(), 'stagediff-preset-'))) as { model: Record<string, unknown>; training: Record<string, unknown> };
  const config = { ...base, data: { source: 'shapes', path: null, resolution: 16, count: 40 }, model: { ...base.model, stageBoundaries: [2.5103, 7.6577] }, training: { ...base.training, totalImages: 40, batchSize: 20, stageSampling: 'balanced', stageShares: [0.5, 0.3, 0.2] } };
  const trainer = await Trainer.create(config);
  assert.equal(trainer.model.partition.numStages, 3);
  const result = await trainer.run();
  const lines = readFileSync(result.log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { samplesPerStage: number[]; lossPerStage: (number | null)[] });
  for (const l of lines) {
    assert.deepEqual(l.samplesPerStage, [10, 6, 4]);
    assert.ok(l.lossPerStage.every((v) => v !== null && Number.isFinite(v)));
  }
  await (await Trainer.create({ ...config, training: { ...config.training, totalImages: 60 } }, { resume: true })).run();
});
