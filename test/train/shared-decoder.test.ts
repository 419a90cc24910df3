/**
 * training.sharedDecoderImages: before the switch the same-width stages train decoder 0 and their own
 * decoders stay at their initial weights; the switch copies decoder 0 (weights, Adam moments, EMA) bit for
 * bit; a run resumed from a checkpoint written before the copy ends where an uninterrupted one does; with
 * step graphs (CUDA graph semantics emulated on the CPU) training across the switch gives the eager weights.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Generator } from '../../src/tensor/index.js';
import type { Module } from '../../src/nn/module.js';
import { MultistageUNet } from '../../src/models/multistage-unet.js';
import { StagePartition } from '../../src/stages/stage-partition.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { type MicroBatch, type TrainingParts, buildTrainingParts, trainStep } from '../../src/train/train-step.js';
import { SharedDecoder } from '../../src/train/shared-decoder.js';
import { Trainer } from '../../src/train/trainer.js';
import { StepGraphs } from '../../src/train/step-graphs.js';
import type { CudaBackend } from '../../src/backend/cuda/index.js';
import type { Backend } from '../../src/backend/backend.js';
import { partitionFromConfig } from '../../src/train/diffusion-model.js';
import { emulateGraphs } from '../helpers/graph-emulator.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { readSafetensors } from '../../src/nn/safetensors.js';
import { loadModelFromCheckpoint } from '../../src/train/load-model.js';

T.setBackend(cpuBackend());

const BOUNDARIES = [2.5103, 7.6577];

function tinyConfig(runDir: string, training: Record<string, unknown> = {}, network: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    runDir,
    device: 'cpu',
    data: { source: 'shapes', resolution: 8, count: 256 },
    model: { kind: 'multistage', stageBoundaries: BOUNDARIES, network: { channel_mult: [1, 2], num_blocks: 1, attn_resolutions: [4], en_model_channels: 8, de_model_channels: [8, 8, 4], ...network } },
    training: { totalImages: 96, batchSize: 16, lr: 2e-3, lrRampUpImages: 32, stageSampling: 'balanced', sharedDecoderImages: 40, ema: { halfLifeImages: 100 }, ...training },
    output: { logEveryImages: 16, checkpointEveryImages: 16, snapshotEveryImages: 100000, keepCheckpoints: 20, grid: { count: 4, steps: 2 } },
  };
}

const unetOf = (parts: TrainingParts, which: 'model' | 'ema' = 'model') => parts[which].unet as MultistageUNet;

function values(m: Module): Map<string, Float32Array> {
  return new Map([...m.stateDict()].map(([k, t]) => [k, Float32Array.from(t.toArray())]));
}

function assertBitEqual(a: Map<string, Float32Array>, b: Map<string, Float32Array>, what: string): void {
  assert.deepEqual([...a.keys()], [...b.keys()]);
  for (const [k, v] of a) assert.ok(Buffer.from(v.buffer).equals(Buffer.from(b.get(k)!.buffer)), `${what}: ${k} differs`);
}

/** A micro-batch of 6 images, two per stage (sigma 0.5, 4, 20), in mixed order. */
function microBatch(seed: number): MicroBatch {
  const g = new Generator(seed);
  const images = Float32Array.from(g.uniformHost(6 * 3 * 8 * 8), (u) => 2 * u - 1);
  return { sigma: Float64Array.from([4, 0.5, 20, 4, 0.5, 20]), weight: new Float64Array(6).fill(1), images: () => T.fromArray(images, [6, 3, 8, 8]) };
}

function step(parts: TrainingParts, generator: Generator, micro: MicroBatch): void {
  const result = trainStep(parts, generator, { batchSize: 6, microBatches: 1, gradClip: null, lr: 2e-3, emaDecay: 0.9 }, () => micro);
  assert.ok(result.applied);
}

/** Per-sample losses of stage-1 images (sigma 4), the same noise each call. */
function stage1Loss(parts: TrainingParts): Float32Array {
  return T.tidy(() => {
    const x0 = T.fromArray(Float32Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => Math.sin(i)), [2, 3, 8, 8]);
    const noise = new Generator(7).normal([2, 3, 8, 8]);
    return Float32Array.from(parts.model.loss(x0, Float64Array.from([4, 4]), noise, new Generator(8)).toArray());
  });
}

test('before the switch the same-width stage trains decoder 0; the switch copies weights, Adam moments and EMA bit for bit', () => {
  const config = resolveTrainConfig(tinyConfig('unused'));
  const parts = buildTrainingParts(config, [3, 8, 8], new StagePartition(BOUNDARIES), new Generator(0));
  const shared = SharedDecoder.create(parts, 12, 6)!;
  assert.deepEqual(shared.stages, [1]);
  const unet = unetOf(parts);
  const initial = values(unet.decs.at(1));
  const initialWide = values(unet.decs.at(2));
  const generator = new Generator(1);
  for (const [imagesSeen, seed] of [[0, 10], [6, 11]]) {
    assert.equal(shared.beforeStep(imagesSeen), false);
    assert.deepEqual(unet.decoderOf, [0, 0, 2]);
    step(parts, generator, microBatch(seed));
  }
  assertBitEqual(values(unet.decs.at(1)), initial, 'the redirected decoder moved');
  assert.ok(unet.decs.at(2).parameters().some((p, i) => p.toArray().some((v, j) => v !== [...initialWide.values()][i][j])), 'the 4-wide decoder is not redirected: it trains');

  parts.model.net.train(false);
  const sharedLoss = stage1Loss(parts);
  unet.decoderOf[1] = 1;
  const ownInitialLoss = stage1Loss(parts);
  assert.ok(sharedLoss.some((v, i) => v !== ownInitialLoss[i]), 'decoder 0 and the initial decoder 1 give different losses');

  assert.equal(shared.beforeStep(12), true);
  assert.deepEqual(unet.decoderOf, [0, 1, 2]);
  assert.deepEqual(unetOf(parts, 'ema').decoderOf, [0, 1, 2]);
  for (const which of ['model', 'ema'] as const) assertBitEqual(values(unetOf(parts, which).decs.at(1)), values(unetOf(parts, which).decs.at(0)), `${which} decoder 1 vs 0`);
  const adam = parts.optimizer.stateDict();
  const dec = (k: number) => `model.decs.${k}.`;
  const decoder0 = Object.keys(adam.steps).filter((n) => n.startsWith(dec(0)));
  assert.ok(decoder0.length > 0);
  for (const name of decoder0) {
    const copy = dec(1) + name.slice(dec(0).length);
    assert.equal(adam.steps[copy], adam.steps[name]);
    for (const suffix of ['exp_avg', 'exp_avg_sq']) {
      const [a, b] = [adam.tensors.get(`${name}.${suffix}`)!.data, adam.tensors.get(`${copy}.${suffix}`)!.data];
      assert.ok(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength)), `${copy}.${suffix}`);
    }
  }
  // stage 1 now runs its own decoder, which computes what decoder 0 computed for it before the switch
  assert.deepEqual(stage1Loss(parts), sharedLoss);
  parts.model.net.train(true);
  assert.equal(shared.beforeStep(18), false);
  step(parts, generator, microBatch(12));
});

test('sharedDecoderMoments fresh: the switch copies weights and EMA but no Adam moments; the decoder\'s first update is Adam\'s first step', () => {
  const config = resolveTrainConfig(tinyConfig('unused', { sharedDecoderMoments: 'fresh' }));
  const parts = buildTrainingParts(config, [3, 8, 8], new StagePartition(BOUNDARIES), new Generator(0));
  const shared = SharedDecoder.create(parts, 12, 6, config.training.sharedDecoderMoments)!;
  const generator = new Generator(1);
  for (const [imagesSeen, seed] of [[0, 10], [6, 11]]) {
    shared.beforeStep(imagesSeen);
    step(parts, generator, microBatch(seed));
  }
  assert.equal(shared.beforeStep(12), true);
  const unet = unetOf(parts);
  assertBitEqual(values(unet.decs.at(1)), values(unet.decs.at(0)), 'decoder 1 vs 0');
  const names = (state: ReturnType<typeof parts.optimizer.stateDict>, k: number) => Object.keys(state.steps).filter((n) => n.startsWith(`model.decs.${k}.`));
  assert.deepEqual(names(parts.optimizer.stateDict(), 1), []);
  step(parts, generator, microBatch(12));
  const after = parts.optimizer.stateDict();
  assert.ok(names(after, 1).length > 0);
  for (const name of names(after, 1)) assert.equal(after.steps[name], 1, name);
  assert.ok(names(after, 0).every((n) => after.steps[n] === 3));
});

function checkpointTensors(path: string): Map<string, Buffer> {
  return new Map([...readSafetensors(path).tensors].map(([k, t]) => [k, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}

test('a run resumed from a checkpoint written before the copy ends bit for bit where an uninterrupted one does', async () => {
  for (const sharedDecoderMoments of ['copy', 'fresh']) {
    const config = (dir: string) => tinyConfig(dir, { sharedDecoderMoments });
    const whole = mkdtempSync(join(tmpdir(), 'stagediff-shared-'));
    await (await Trainer.create(config(whole))).run();
    const a = listCheckpoints(whole).at(-1)!;
    assert.match(a, /checkpoint-000000000096/);
    const x = checkpointTensors(a);
    // the checkpoint at 48 images comes before the copy (the step from 48 is the first at or past 40), the one at 64 after it
    for (const stopAt of [48, 64]) {
      const parted = mkdtempSync(join(tmpdir(), 'stagediff-shared-'));
      await (await Trainer.create(config(parted))).run({ stopAtImages: stopAt });
      await (await Trainer.create(config(parted), { resume: true })).run();
      const y = checkpointTensors(listCheckpoints(parted).at(-1)!);
      assert.deepEqual([...x.keys()], [...y.keys()]);
      for (const [k, v] of x) assert.ok(v.equals(y.get(k)!), `${sharedDecoderMoments}, resumed at ${stopAt}: ${k} differs`);
    }
  }
  const whole = mkdtempSync(join(tmpdir(), 'stagediff-shared-'));
  await (await Trainer.create(tinyConfig(whole))).run();
  await assert.rejects(Trainer.create(tinyConfig(whole, { totalImages: 128, sharedDecoderImages: 64 }), { resume: true }), /training\.sharedDecoderImages: 40 -> 64/);
});

test('sharedDecoderImages needs a multistage model with a decoder of stage 0\'s width', async () => {
  const dir = () => mkdtempSync(join(tmpdir(), 'stagediff-shared-'));
  await assert.rejects(Trainer.create(tinyConfig(dir(), {}, { de_model_channels: [8, 4, 4] })), /no stage's decoder has stage 0's width \(model.network.de_model_channels \[8,4,4\]\)/);
  const unified = { ...tinyConfig(dir()), model: { kind: 'unified', network: { channel_mult: [1, 2], num_blocks: 1, attn_resolutions: [4], model_channels: 8 } } };
  await assert.rejects(Trainer.create(unified), /needs model.kind "multistage" \(it is "unified"\)/);
  await assert.rejects(Trainer.create(tinyConfig(dir(), { sharedDecoderImages: -1 })), /sharedDecoderImages/);
});

test('step graphs across the switch: graphs of the shared routing are dropped, and the weights are the eager ones bit for bit', () => {
  const B = 12;
  // stages 0 and 1 (width 8) share decoder 0 for the first two steps; balanced batches sorted by stage
  const config = resolveTrainConfig({ ...tinyConfig('unused', { batchSize: B, sharedDecoderImages: 2 * B }), device: 'cpu' });
  const run = (backend: Backend, withGraphs: boolean): { bits: string[]; replays: number } => {
    T.setBackend(backend);
    const p = buildTrainingParts(config, [3, 8, 8], partitionFromConfig(config.model, config.formulation), new Generator(0));
    p.model.net.train(true);
    const shared = SharedDecoder.create(p, config.training.sharedDecoderImages, B)!;
    const graphs = withGraphs ? new StepGraphs(backend as unknown as CudaBackend, 'on', (w) => assert.fail(w)) : undefined;
    const generator = new Generator(42);
    try {
      for (let k = 0; k < 5; k++) {
        if (shared.beforeStep(k * B)) graphs?.dispose();
        const g = new Generator(100 + k);
        const u = g.uniformHost(B);
        const sigma = Float64Array.from({ length: B }, (_, i) => (i < 6 ? 0.1 + 2 * u[i] : i < 10 ? 3 + 4 * u[i] : 8 + 30 * u[i]));
        const pixels = Float32Array.from(g.uniformHost(B * 3 * 8 * 8), (v) => 2 * v - 1);
        const micro: MicroBatch = { sigma, weight: new Float64Array(B).fill(1), images: () => T.fromArray(pixels, [B, 3, 8, 8], 'float32', backend) };
        assert.ok(trainStep(p, generator, { batchSize: B, microBatches: 1, gradClip: null, lr: 2e-3, emaDecay: 0.9, graphs }, () => micro).applied);
        assert.deepEqual(unetOf(p).lastRoute?.runs, k < 2 ? [0, 2] : [0, 1, 2], `step ${k}: decoders run`);
      }
      return { bits: [...p.model.net.parameters(), ...p.ema.net.parameters()].map((t) => Buffer.from(t.toFloat32Array().buffer).toString('base64')), replays: 0 };
    } finally {
      graphs?.dispose();
      p.optimizer.dispose();
    }
  };
  const eager = run(cpuBackend(), false);
  const em = emulateGraphs(cpuBackend());
  const graphed = run(em.backend, true);
  // steps 0 and 2 eager (a warm-up of each routing), 1 and 3 captured and replayed, 4 replayed
  assert.equal(em.replays(), 3);
  assert.deepEqual(graphed.bits, eager.bits);
});

test('a checkpoint written before the switch samples through decoder 0, as the trainer does, not through untrained decoders', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagediff-shared-'));
  const trainer = await Trainer.create(tinyConfig(dir));
  await trainer.run({ stopAtImages: 32 });
  const before = loadModelFromCheckpoint(listCheckpoints(dir).at(-1)!);
  assert.deepEqual((before.model.unet as MultistageUNet).decoderOf, [0, 0, 2]);
  assert.deepEqual(before.state.decoderOf, [0, 0, 2]);
  const x = T.fromArray(Float32Array.from(new Generator(7).uniformHost(2 * 3 * 8 * 8), (u) => 2 * u - 1), [2, 3, 8, 8]);
  const sigma = T.fromArray(Float32Array.of(4, 4), [2, 1, 1, 1]);
  const shared = before.model.denoiser()(x, sigma).toArray();
  // the same weights routed through stage 1's own (initial) decoder give another answer
  (before.model.unet as MultistageUNet).decoderOf[1] = 1;
  assert.notDeepEqual(before.model.denoiser()(x, sigma).toArray(), shared);
  await (await Trainer.create(tinyConfig(dir), { resume: true })).run();
  const after = loadModelFromCheckpoint(listCheckpoints(dir).at(-1)!);
  assert.deepEqual((after.model.unet as MultistageUNet).decoderOf, [0, 1, 2]);
});
