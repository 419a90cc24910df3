/**
 * Class-conditional training and sampling on the CPU: the labels reach the network (its label embedding
 * learns), label dropout trains the unconditional case, and classifier-free guidance is
 * D_uncond + w (D_cond - D_uncond), with w = 1 the plain conditional model.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Trainer } from '../../src/train/trainer.js';
import { loadModelFromCheckpoint } from '../../src/train/load-model.js';
import { sample } from '../../src/diffusion/sample.js';
import { oneHot } from '../../src/diffusion/guidance.js';
import type { Denoiser } from '../../src/diffusion/denoiser.js';
import { tempDir } from '../data/temp-dir.js';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

T.setBackend(cpuBackend());

function conditionalConfig(runDir: string, network: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    runDir,
    device: 'cpu',
    data: { source: 'shapes', resolution: 8, count: 64 },
    model: { kind: 'multistage', stageBoundaries: [0.5, 5], network: { augment_dim: 0, dropout: 0, channel_mult: [1, 1], num_blocks: 1, attn_resolutions: [], en_model_channels: 8, de_model_channels: [8, 8, 4], label_dim: 4, label_dropout: 0.2, ...network } },
    training: { totalImages: 64, batchSize: 16, lr: 2e-3, lrRampUpImages: 0 },
    output: { logEveryImages: 16, checkpointEveryImages: 64, snapshotEveryImages: 64, grid: { count: 4, steps: 2 } },
  };
}

test('a tiny class-conditional model trains on the shapes classes and its label embedding learns', async () => {
  const dir = tempDir();
  const trainer = await Trainer.create(conditionalConfig(dir));
  const labelWeights = () => new Map(trainer.model.net.namedParameters()).get('model.map_label.weight')!.toFloat32Array();
  const before = labelWeights();
  const result = await trainer.run();
  assert.equal(result.imagesSeen, 64);
  assert.ok(result.finalLossPerStage.some((l) => l !== null && Number.isFinite(l)));
  // without labels fed, the label embedding's gradient is zero and Adam leaves it where it started
  const after = labelWeights();
  const moved = after.reduce((m, v, i) => Math.max(m, Math.abs(v - before[i])), 0);
  assert.ok(moved > 1e-4, `map_label moved by ${moved}`);

  // the checkpoint samples conditionally; guidance 1 is plain conditional sampling
  const { model } = loadModelFromCheckpoint(dir);
  assert.equal(model.labelDim, 4);
  const classes = [0, 1, 2, 3];
  const common = { shape: model.imageShape, batch: 4, seed: 3, steps: 4, partition: model.partition };
  const guided = sample({ ...common, model: model.denoiser(), classes, numClasses: 4, guidance: 1 });
  const labels = oneHot(classes, 4);
  const plain = sample({ ...common, model: (x, s) => model.denoiser()(x, s, labels) });
  assert.deepEqual(guided.images.toFloat32Array(), plain.images.toFloat32Array());
  // and the classes matter: other classes give other images from the same noise
  const other = sample({ ...common, model: model.denoiser(), classes: [3, 2, 1, 0], numClasses: 4 });
  assert.notDeepEqual(other.images.toFloat32Array(), guided.images.toFloat32Array());
  for (const r of [guided, plain, other]) r.images.dispose();
  labels.dispose();
});

test('guidance combines the conditional and unconditional denoisers as D_uncond + w (D_cond - D_uncond)', () => {
  // a denoiser that scales x by a per-sample factor: a for class labels, b for none; the sampler is then
  // linear in that factor, so the guided run equals a plain run with factor b + w (a - b)
  const a = 0.3;
  const b = 0.8;
  const scaled = (f: (row: number) => number): Denoiser => (x) => T.mul(x, T.fromArray(Float32Array.from({ length: x.shape[0] }, (_, i) => f(i)), [x.shape[0], 1, 1, 1]));
  const seenClasses: number[][] = [];
  const model: Denoiser = (x, sigma, labels) => {
    if (!labels) return scaled(() => b)(x, sigma);
    const rows = labels.toFloat32Array();
    seenClasses.push(Array.from({ length: x.shape[0] }, (_, i) => rows.subarray(i * 3, i * 3 + 3).indexOf(1)));
    return scaled((i) => a + 0.1 * rows.subarray(i * 3, i * 3 + 3).indexOf(1))(x, sigma);
  };
  const common = { shape: [1, 2, 2], batch: 3, seed: 1, steps: 5, sampler: 'euler' as const };
  for (const w of [0, 1, 2.5]) {
    seenClasses.length = 0;
    const guided = sample({ ...common, model, classes: [2, 0, 1], numClasses: 3, guidance: w });
    assert.deepEqual(seenClasses[0], [2, 0, 1]);
    const expected = sample({ ...common, model: scaled((i) => b + w * (a + 0.1 * [2, 0, 1][i] - b)) });
    const g = guided.images.toFloat32Array();
    expected.images.toFloat32Array().forEach((v, i) => assert.ok(Math.abs(v - g[i]) < 1e-5 * Math.max(1, Math.abs(v)), `w ${w} [${i}]: ${g[i]} vs ${v}`));
    guided.images.dispose();
    expected.images.dispose();
  }
  assert.throws(() => sample({ ...common, model, classes: [3], numClasses: 3 }), /class 3 is not one of the model's 3 classes/);
  assert.throws(() => sample({ ...common, model, classes: [0, 1], numClasses: 3 }), /classes has 2 entries for a batch of 3/);
  assert.throws(() => sample({ ...common, model, guidance: 2 }), /guidance needs classes/);
});

test('a class-conditional model on unlabelled data, or with fewer classes than the data, is refused', async () => {
  const dir = tempDir();
  await assert.rejects(Trainer.create(conditionalConfig(dir, { label_dim: 3 })), /model\.network\.label_dim is 3 but shapes8 has 4 classes: set label_dim to 4/);
});

test('stagediff sample --class C --guidance W draws a class of a class-conditional checkpoint', async () => {
  const dir = tempDir();
  await (await Trainer.create(conditionalConfig(join(dir, 'run')))).run();
  const cli = (args: string[]) => spawnSync(process.execPath, [CLI, 'sample', '--checkpoint', join(dir, 'run'), '--count', '4', '--steps', '3', '--device', 'cpu', ...args], { encoding: 'utf8' });
  const png = (name: string, args: string[]) => {
    const r = cli([...args, '--out', join(dir, name)]);
    assert.equal(r.status, 0, r.stderr);
    return readFileSync(join(dir, name));
  };
  const conditional = png('c2.png', ['--class', '2']);
  assert.deepEqual(png('c2-w1.png', ['--class', '2', '--guidance', '1']), conditional);
  assert.notDeepEqual(png('c2-w3.png', ['--class', '2', '--guidance', '3']), conditional);
  assert.notDeepEqual(png('c1.png', ['--class', '1']), conditional);
  assert.match(cli(['--class', '4', '--out', join(dir, 'x.png')]).stderr, /--class 4: .* has classes 0 to 3/);
  assert.match(cli(['--guidance', '2', '--out', join(dir, 'y.png')]).stderr, /--guidance needs --class/);
});
