import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import {
  DEFAULT_ETA, OptimalDenoiser, agreement, algorithm1Curves, drawNoisingPairs, gridSimilarity, sigmaOf, timeGrid, writeNoisyPoint,
  type NoiseLevel, type NoisingPairs,
} from '../../src/stages/index.js';
import { fourPoints } from './four-points.js';
import { vpLevel } from './vp.js';

T.setBackend(cpuBackend());
const fp = fourPoints();
const eta = DEFAULT_ETA;

/** The closed-form posterior mean of pair p at a level (four-points.ts), and eps* from it. */
function exactOutputs(pairs: NoisingPairs, p: number, level: NoiseLevel): { x0: Float64Array; eps: Float64Array } {
  const x = new Float32Array(fp.dim);
  writeNoisyPoint(pairs, p, level, x, 0);
  const x0 = fp.posteriorMean(x, 0, level);
  const eps = x0.map((v, d) => pairs.noise[p * fp.dim + d] + (pairs.clean[p * fp.dim + d] - v) / sigmaOf(level));
  return { x0, eps };
}

test('the noise level where the denoiser leaves a point for its cluster, and the cluster for the mean, is where theory puts it', () => {
  // On the noiseless path x = s y from y = m + c + d, E[x0|x] = m + c tanh(|c|^2/sigma^2) + d tanh(|d|^2/sigma^2).
  // Its d half stays within eta of y while d (1 - tanh(|d|^2/sigma^2)) < eta, and its c half is within eta of
  // the mean once c tanh(|c|^2/sigma^2) < eta: two switching sigmas in closed form.
  const half = fp.dim / 2;
  const normD = fp.d * Math.sqrt(half);
  const normC = fp.c * Math.sqrt(half);
  const leavesPoint = normD / Math.sqrt(Math.atanh(1 - eta / fp.d));
  const reachesMean = normC / Math.sqrt(Math.atanh(eta / fp.c));
  const y = fp.dataset.rows(0, 1);
  const denoiser = new OptimalDenoiser(fp.dataset);
  const at = (sigma: number): Float64Array => {
    const level = { scale: 1 / Math.hypot(1, sigma), std: sigma / Math.hypot(1, sigma) };
    return denoiser.posteriorMean(y.map((v) => level.scale * v), [level]);
  };
  const dHalfIsPoint = (sigma: number): boolean => agreement(at(sigma), half, y, half, half, eta) === 1;
  const cHalfIsMean = (sigma: number): boolean => agreement(at(sigma), 0, new Float64Array(half).fill(fp.centre), 0, half, eta) === 1;
  assert.ok(dHalfIsPoint(leavesPoint * 0.99) && !dHalfIsPoint(leavesPoint * 1.01), `leaves the point at sigma ${leavesPoint}`);
  assert.ok(!cHalfIsMean(reachesMean * 0.99) && cHalfIsMean(reachesMean * 1.01), `reaches the mean at sigma ${reachesMean}`);
  assert.ok(reachesMean > 50 * leavesPoint, 'the two switches are far apart');
  denoiser.dispose();
});

test('grid similarity equals the closed-form answer in both spaces', () => {
  const pairs = drawNoisingPairs(fp.dataset, 16, new T.Generator(21));
  const grid = [...timeGrid(24, 1e-3, 1)].map(vpLevel);
  const denoiser = new OptimalDenoiser(fp.dataset, { chunkSize: 3, queryBatch: 50 });
  let calls = 0;
  const got = gridSimilarity(denoiser, pairs, grid, eta, () => calls++);
  assert.equal(calls, Math.ceil((16 * 24) / 50) * 2, 'progress is reported once per chunk of each query batch');
  const outputs = Array.from({ length: 16 }, (_, p) => grid.map((level) => exactOutputs(pairs, p, level)));
  for (const space of ['x0', 'eps'] as const) {
    const matrix = space === 'x0' ? got.x0 : got.epsilon;
    for (let a = 0; a < 24; a++) {
      for (let b = 0; b < 24; b++) {
        const expected = outputs.reduce((acc, o) => acc + agreement(o[a][space], 0, o[b][space], 0, fp.dim, eta), 0) / 16;
        assert.ok(Math.abs(matrix[a][b] - expected) < 1e-12, `${space} S[${a}][${b}] = ${matrix[a][b]}, expected ${expected}`);
      }
    }
  }
  // The two highest levels both return the mean, which shares no coordinate with the training point that the
  // lowest level returns.
  assert.equal(got.x0[22][23], 1);
  assert.equal(got.x0[0][23], 0);
  denoiser.dispose();
});

test("Algorithm 1's per-sample similarities equal the closed-form answer", () => {
  const pairs = drawNoisingPairs(fp.dataset, 40, new T.Generator(22));
  const levels = [...new T.Generator(23).uniformHost(40)].map((u) => vpLevel(1e-3 + (1 - 1e-3) * u));
  const denoiser = new OptimalDenoiser(fp.dataset);
  const curves = algorithm1Curves(denoiser, pairs, levels, eta);
  const expected = levels
    .map((level, p) => {
      const { eps } = exactOutputs(pairs, p, level);
      const epsOfMean = eps.map((_, d) => pairs.noise[p * fp.dim + d] + (pairs.clean[p * fp.dim + d] - fp.centre) / sigmaOf(level));
      return { t: level.t, s0: agreement(eps, 0, pairs.noise, p * fp.dim, fp.dim, eta), s1: agreement(eps, 0, epsOfMean, 0, fp.dim, eta) };
    })
    .sort((a, b) => a.t - b.t);
  assert.deepEqual(curves.t, expected.map((e) => e.t));
  assert.deepEqual(curves.s0, expected.map((e) => e.s0));
  assert.deepEqual(curves.s1, expected.map((e) => e.s1));
  // S0 is 1 near t = 0 (the denoiser returns the training point) and S1 is 1 near t = 1 (it returns the mean).
  assert.equal(curves.s0[0], 1);
  assert.equal(curves.s1[curves.s1.length - 1], 1);
  denoiser.dispose();
});
