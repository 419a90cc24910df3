import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readSafetensors } from '../../src/nn/safetensors.js';
import { FeatureAccumulator, featureStatistics, frechetDistance } from '../../src/eval/frechet.js';
import { symmetricEigen } from '../../src/eval/symmetric-eigen.js';
import { fidFixtureDir } from './fid-fixture-dir.js';

/** A deterministic pseudo-random stream (no dependence on the tensor library). */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

function randomSymmetric(n: number, seed: number): Float64Array {
  const r = lcg(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = r();
  return a;
}

test('symmetricEigen: A v = l v, orthonormal vectors, and the values-only path agrees', () => {
  for (const n of [1, 2, 5, 33]) {
    const a = randomSymmetric(n, n);
    const { values, vectors } = symmetricEigen(a, n, { vectors: true });
    let trace = 0;
    for (let i = 0; i < n; i++) trace += a[i * n + i];
    assert.ok(Math.abs(values.reduce((s, v) => s + v, 0) - trace) < 1e-12 * n);
    for (let j = 0; j < n; j++) {
      if (j > 0) assert.ok(values[j] >= values[j - 1]);
      for (let i = 0; i < n; i++) {
        let av = 0;
        for (let k = 0; k < n; k++) av += a[i * n + k] * vectors![j * n + k];
        assert.ok(Math.abs(av - values[j] * vectors![j * n + i]) < 1e-12, `n=${n}: residual of eigenpair ${j}`);
      }
      for (let k = 0; k <= j; k++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += vectors![j * n + i] * vectors![k * n + i];
        assert.ok(Math.abs(d - (j === k ? 1 : 0)) < 1e-12, `n=${n}: vectors ${j}, ${k} not orthonormal`);
      }
    }
    const only = symmetricEigen(a, n).values;
    for (let j = 0; j < n; j++) assert.ok(Math.abs(only[j] - values[j]) < 1e-12, `n=${n}: values-only eigenvalue ${j}`);
  }
});

test('symmetricEigen: a matrix of known spectrum (diagonal in a rotated basis, repeated and zero eigenvalues)', () => {
  const n = 4;
  // Q = Householder reflection I - 2 u u^T / |u|^2; A = Q diag(3, 0, 3, -1) Q.
  const u = [1, 2, -1, 0.5];
  const uu = u.reduce((s, x) => s + x * x, 0);
  const q = (i: number, j: number): number => (i === j ? 1 : 0) - (2 * u[i] * u[j]) / uu;
  const diag = [3, 0, 3, -1];
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < n; k++) a[i * n + j] += q(i, k) * diag[k] * q(k, j);
  const { values } = symmetricEigen(a, n);
  [-1, 0, 3, 3].forEach((want, j) => assert.ok(Math.abs(values[j] - want) < 1e-14, `eigenvalue ${j}: ${values[j]}`));
});

test('FeatureAccumulator: batches give the statistics of the whole set (np.cov, n - 1)', () => {
  const rows = 37;
  const dim = 6;
  const r = lcg(7);
  // A large common offset: the shifted sums must not lose the covariance to cancellation.
  const x = Float64Array.from({ length: rows * dim }, (_, i) => 1e4 + (i % dim) + r());
  const acc = new FeatureAccumulator(dim);
  for (const [start, end] of [[0, 5], [5, 6], [6, 37]]) acc.add(x.subarray(start * dim, end * dim), end - start);
  const s = acc.statistics();
  for (let i = 0; i < dim; i++) {
    let m = 0;
    for (let k = 0; k < rows; k++) m += x[k * dim + i];
    m /= rows;
    assert.ok(Math.abs(s.mu[i] - m) < 1e-9);
    for (let j = 0; j < dim; j++) {
      let mj = 0;
      for (let k = 0; k < rows; k++) mj += x[k * dim + j];
      mj /= rows;
      let c = 0;
      for (let k = 0; k < rows; k++) c += (x[k * dim + i] - m) * (x[k * dim + j] - mj);
      c /= rows - 1;
      assert.ok(Math.abs(s.sigma[i * dim + j] - c) < 1e-9 * Math.abs(c) + 1e-12, `sigma[${i},${j}]`);
    }
  }
  assert.equal(s.count, rows);
});

test('FeatureAccumulator: fewer than 2 samples and non-finite features are refused', () => {
  const acc = new FeatureAccumulator(3);
  assert.throws(() => acc.statistics(), /at least 2 samples, got 0/);
  acc.add(new Float32Array([1, 2, 3]), 1);
  assert.throws(() => acc.statistics(), /at least 2 samples, got 1/);
  assert.throws(() => acc.add(new Float32Array([1, NaN, 3]), 1), /non-finite/);
});

test('frechetDistance matches scipy on the fixture (fd(a,b), fd(a,a) = 0, fd(a,c) with a singular covariance)', () => {
  // A missing fixture fails here: the copy ships in test/fixtures/fid.
  const { tensors, metadata } = readSafetensors(join(fidFixtureDir(), 'frechet.safetensors'));
  const stats = (name: string) => {
    const t = tensors.get(`fd.${name}`);
    assert.ok(t, `fixture has no fd.${name}`);
    return featureStatistics(t.data as Float32Array, t.shape[0], t.shape[1]);
  };
  const [a, b, c] = ['a', 'b', 'c'].map(stats);
  const want = (key: string): number => {
    assert.ok(metadata[key] !== undefined, `fixture metadata has no ${key}`);
    return Number(metadata[key]);
  };
  const relative = (got: number, expected: number): number => Math.abs(got - expected) / Math.abs(expected);
  assert.ok(relative(frechetDistance(a, b), want('fd(a,b)')) < 1e-6, `fd(a,b) = ${frechetDistance(a, b)}, scipy ${want('fd(a,b)')}`);
  assert.ok(Math.abs(frechetDistance(a, a) - want('fd(a,a)')) < 1e-6, `fd(a,a) = ${frechetDistance(a, a)}`);
  assert.ok(relative(frechetDistance(a, c), want('fd(a,c)')) < 1e-6, `fd(a,c) = ${frechetDistance(a, c)}, scipy ${want('fd(a,c)')}`);
  // The distance is symmetric; with the singular covariance first, the clamping path carries it.
  assert.ok(relative(frechetDistance(c, a), want('fd(a,c)')) < 1e-6, `fd(c,a) = ${frechetDistance(c, a)}`);
  assert.throws(() => frechetDistance(a, featureStatistics(new Float32Array(10), 2, 5)), /different feature sizes: 64 and 5/);
});
