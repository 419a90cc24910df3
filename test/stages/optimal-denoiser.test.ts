import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { OptimalDenoiser, denseDataset } from '../../src/stages/index.js';
import { fourPoints } from './four-points.js';

T.setBackend(cpuBackend());

/** The posterior mean by its definition, in float64: a softmax over every training vector. */
function bruteForce(data: Float32Array, dim: number, x: ArrayLike<number>, offset: number, scale: number, std: number): Float64Array {
  const n = data.length / dim;
  const logW = Array.from({ length: n }, (_, i) => {
    let sq = 0;
    for (let d = 0; d < dim; d++) sq += (x[offset + d] - scale * data[i * dim + d]) ** 2;
    return -sq / (2 * std * std);
  });
  const top = Math.max(...logW);
  const w = logW.map((l) => Math.exp(l - top));
  const total = w.reduce((a, b) => a + b, 0);
  return Float64Array.from({ length: dim }, (_, d) => w.reduce((acc, wi, i) => acc + wi * data[i * dim + d], 0) / total);
}

function assertAllClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}: element ${i} is ${actual[i]}, expected ${expected[i]}`);
  }
}

function randomData(n: number, dim: number, seed: number): Float32Array {
  return Float32Array.from(new T.Generator(seed).uniformHost(n * dim));
}

test('the posterior mean matches a float64 brute-force softmax, whatever the chunking', () => {
  const dim = 7;
  const data = randomData(6, dim, 1);
  // Queries near different training points, with noise levels from where one point dominates to where all share.
  const levels = [0.02, 0.08, 0.15, 0.3, 0.6, 1.2, 3].map((std, i) => ({ scale: 0.9 - 0.1 * i, std }));
  const noise = new T.Generator(2).normalHost(levels.length * dim);
  const x = new Float64Array(levels.length * dim);
  levels.forEach((l, q) => {
    for (let d = 0; d < dim; d++) x[q * dim + d] = l.scale * data[(q % 6) * dim + d] + l.std * noise[q * dim + d];
  });
  const expected = new Float64Array(x.length);
  levels.forEach((l, q) => expected.set(bruteForce(data, dim, x, q * dim, l.scale, l.std), q * dim));
  for (const [chunkSize, queryBatch] of [[2, 3], [4, 1], [100, 256]]) {
    const denoiser = new OptimalDenoiser(denseDataset(data, dim), { chunkSize, queryBatch });
    assertAllClose(denoiser.posteriorMean(x, levels), expected, 2e-6, `chunks of ${chunkSize}, batches of ${queryBatch}`);
    denoiser.dispose();
  }
});

test('the posterior mean of the four-point dataset follows its closed form', () => {
  const fp = fourPoints();
  const denoiser = new OptimalDenoiser(fp.dataset, { chunkSize: 3 });
  const sigmas = [0.01, 0.05, 0.1, 0.3, 1, 3, 10, 100];
  const noise = new T.Generator(3).normalHost(fp.dim);
  const y = fp.dataset.rows(1, 2);
  const levels = sigmas.map((sigma) => ({ scale: 1 / Math.sqrt(1 + sigma * sigma), std: sigma / Math.sqrt(1 + sigma * sigma) }));
  const x = new Float64Array(sigmas.length * fp.dim);
  levels.forEach((l, q) => {
    for (let d = 0; d < fp.dim; d++) x[q * fp.dim + d] = l.scale * y[d] + l.std * noise[d];
  });
  const got = denoiser.posteriorMean(x, levels);
  levels.forEach((l, q) => assertAllClose(got.subarray(q * fp.dim, (q + 1) * fp.dim), fp.posteriorMean(x, q * fp.dim, l), 1e-6, `sigma ${sigmas[q]}`));
  denoiser.dispose();
});

test('tiny noise returns the nearest training vector, without NaN', () => {
  const dim = 5;
  const data = randomData(8, dim, 4);
  const denoiser = new OptimalDenoiser(denseDataset(data, dim), { chunkSize: 3 });
  // A query off training point 5 by a little, scaled by s = 0.7: the nearest in ||x - s y|| is still point 5.
  const s = 0.7;
  const x = Array.from({ length: dim }, (_, d) => s * data[5 * dim + d] + 0.01 * (d % 2 ? 1 : -1));
  for (const std of [1e-4, 1e-12, 1e-30, 0]) {
    const got = denoiser.posteriorMean(x, [{ scale: s, std }]);
    assertAllClose(got, data.subarray(5 * dim, 6 * dim), 1e-7, `std ${std}`);
  }
  denoiser.dispose();
});

test('huge noise returns the data mean', () => {
  const dim = 4;
  const data = randomData(10, dim, 5);
  const mean = Array.from({ length: dim }, (_, d) => data.reduce((acc, v, i) => (i % dim === d ? acc + v : acc), 0) / 10);
  const denoiser = new OptimalDenoiser(denseDataset(data, dim), { chunkSize: 4 });
  const x = [3, -2, 0.5, 1];
  for (const level of [{ scale: 1e-3, std: 1e6 }, { scale: 1, std: 1e12 }, { scale: 0, std: 1 }]) {
    const got = denoiser.posteriorMean(x, [level]);
    assertAllClose(got, mean, 1e-6, `scale ${level.scale}, std ${level.std}`);
    assert.ok(got.every(Number.isFinite));
  }
  denoiser.dispose();
});

test('bad input gives a clear error', () => {
  assert.throws(() => new OptimalDenoiser(denseDataset(new Float32Array(0), 3)), /dataset is empty/);
  assert.throws(() => denseDataset(new Float32Array(7), 3), /do not split/);
  const denoiser = new OptimalDenoiser(denseDataset(new Float32Array([0, 1, 1, 0]), 2));
  assert.throws(() => denoiser.posteriorMean([1, 2, 3], [{ scale: 1, std: 1 }]), /3 values for 1 queries of dimension 2/);
  assert.throws(() => denoiser.posteriorMean([1, 2], [{ scale: 1, std: -1 }]), /std >= 0/);
  assert.throws(() => denoiser.posteriorMean([1, 2], [{ scale: 0, std: 0 }]), /not both zero/);
  assert.throws(() => denoiser.posteriorMean([1, NaN], [{ scale: 1, std: 1 }]), /non-finite/);
  assert.throws(() => new OptimalDenoiser(denseDataset(new Float32Array(4), 2), { chunkSize: 0 }), /chunkSize must be a positive integer/);
  denoiser.dispose();
});
