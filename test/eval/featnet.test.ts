import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { ShapesDataset } from '../../src/data/shapes.js';
import { DatasetRange } from '../../src/data/dataset-range.js';
import { crossEntropy, featnetSplit, trainFeatNet } from '../../src/eval/featnet-train.js';
import { type FeatNet, loadFeatNet, saveFeatNet } from '../../src/eval/featnet.js';
import { datasetImages, datasetStatistics, ImageFeatureStatistics } from '../../src/eval/image-features.js';
import { frechetDistance } from '../../src/eval/frechet.js';
import { parseSafetensors, serializeSafetensors } from '../../src/nn/safetensors.js';
import { gradCheck, randomArray } from '../helpers/gradcheck.js';
import { tempDir } from '../data/temp-dir.js';

T.setBackend(cpuBackend());

test('crossEntropy: the mean negative log-softmax of the label, and its gradient', () => {
  const logits = randomArray(12, 3).map((x) => 4 * x);
  const labels = Int32Array.from([2, 0, 3]);
  const got = T.tidy(() => crossEntropy(T.fromArray(logits, [3, 4]), labels).item());
  let want = 0;
  for (let i = 0; i < 3; i++) {
    const row = Array.from(logits.subarray(i * 4, i * 4 + 4));
    want += Math.log(row.reduce((s, z) => s + Math.exp(z), 0)) - row[labels[i]];
  }
  assert.ok(Math.abs(got - want / 3) < 1e-5, `${got} vs ${want / 3}`);
  gradCheck(([z]) => crossEntropy(z, labels), [{ data: logits, shape: [3, 4] }], { eps: 1e-2, tol: 1e-2 });
});

const TRAINING = { width: 8, epochs: 3, batch: 32, lr: 3e-3, seed: 0 };
const SHAPES = { source: 'shapes' as const, path: null, resolution: 16, count: 800 };
const dir = tempDir();
let first: { net: FeatNet; accuracy: number; file: string };

before(async () => {
  const { train, heldOut } = await featnetSplit(SHAPES);
  const trained = await trainFeatNet({ train, heldOut, ...TRAINING });
  const file = join(dir, 'a.safetensors');
  saveFeatNet(trained.net, file, { dataset: train.name, heldOut: heldOut.name, accuracy: trained.accuracy, trainedImages: trained.trainedImages, seed: 0 });
  first = { net: trained.net, accuracy: trained.accuracy, file };
});

test('featnet: learns the shapes (held-out accuracy well above the 25% of chance), last 10% held out', async () => {
  const { train, heldOut } = await featnetSplit(SHAPES);
  assert.equal(train.length, 720);
  assert.equal(heldOut.length, 80);
  assert.ok(first.accuracy > 0.45, `held-out accuracy ${first.accuracy}`);
  const { info, net } = loadFeatNet(first.file);
  assert.equal(info.accuracy, first.accuracy);
  assert.deepEqual([info.resolution, info.channels, info.classes, net.featureDim], [16, 3, 4, 32]);
});

test('featnet: the same data, options and seed give the same file, byte for byte', async () => {
  const { train, heldOut } = await featnetSplit(SHAPES);
  const again = await trainFeatNet({ train, heldOut, ...TRAINING });
  const file = join(dir, 'b.safetensors');
  saveFeatNet(again.net, file, { dataset: train.name, heldOut: heldOut.name, accuracy: again.accuracy, trainedImages: again.trainedImages, seed: 0 });
  assert.ok(Buffer.from(readFileSync(file)).equals(readFileSync(first.file)));
});

test('FD_featnet: two evaluations agree exactly; real halves score far below real against noise', () => {
  const data = new ShapesDataset({ size: 16, length: 400, seed: 5 });
  const { net } = loadFeatNet(first.file);
  const halfA = datasetStatistics(new DatasetRange(data, 0, 200), net, 64);
  const halfB = datasetStatistics(new DatasetRange(data, 200, 200), net, 50);
  const halfBAgain = datasetStatistics(new DatasetRange(data, 200, 200), loadFeatNet(first.file).net, 50);
  const real = frechetDistance(halfA, halfB);
  assert.equal(frechetDistance(halfA, halfBAgain), real);
  const noise = new ImageFeatureStatistics(net);
  const g = new T.Generator(9);
  const pixels = Uint8Array.from(g.uniformHost(200 * 16 * 16 * 3), (u) => Math.floor(256 * u));
  noise.add({ count: 200, height: 16, width: 16, channels: 3, pixels });
  const fake = frechetDistance(halfA, noise.statistics());
  assert.ok(Number.isFinite(real) && real > 0, `real vs real ${real}`);
  assert.ok(fake > 10 * real, `real vs noise ${fake} is not far above real vs real ${real}`);
});

test('featnet features: batch size does not matter, and images of another size are refused', () => {
  const data = new ShapesDataset({ size: 16, length: 6, seed: 1 });
  const { net } = loadFeatNet(first.file);
  const all = new ImageFeatureStatistics(net);
  all.add(datasetImages(data, [0, 1, 2, 3, 4, 5]));
  const split = new ImageFeatureStatistics(net);
  split.add(datasetImages(data, [0, 1]));
  split.add(datasetImages(data, [2, 3, 4, 5]));
  const [a, b] = [all.statistics(), split.statistics()];
  for (let i = 0; i < a.mu.length; i++) assert.ok(Math.abs(a.mu[i] - b.mu[i]) < 1e-6);
  const wrong = new ImageFeatureStatistics(net);
  assert.throws(() => wrong.add(datasetImages(new ShapesDataset({ size: 8, length: 2 }), [0, 1])), /reads \[N, 3, 16, 16\] images, got \[2, 3, 8, 8\]/);
  assert.throws(() => wrong.statistics(), /at least 2 images, got 0/);
});

test('loadFeatNet: a missing file, another safetensors file and wrong shapes get clear messages', () => {
  assert.throws(() => loadFeatNet(join(dir, 'nope.safetensors')), /cannot read .*stagediff featnet --data/);
  const other = join(dir, 'other.safetensors');
  writeFileSync(other, serializeSafetensors([['w', { dtype: 'float32', shape: [1], data: new Float32Array(1) }]]));
  assert.throws(() => loadFeatNet(other), /is not a featnet file/);
  const { tensors, metadata } = parseSafetensors(readFileSync(first.file));
  const widened = join(dir, 'widened.safetensors');
  writeFileSync(widened, serializeSafetensors(tensors, { ...metadata, width: '16' }));
  assert.throws(() => loadFeatNet(widened), /wrong shape: conv_in.weight/);
});
