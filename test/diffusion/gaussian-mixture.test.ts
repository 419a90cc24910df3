import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { GaussianMixture } from '../../src/diffusion/index.js';
import { assertReproducesMixture, mixture2d } from './mixture-helpers.js';

T.setBackend(cpuBackend());

/** log of sum_k w_k N(x; mu_k, S_k + s^2 I) with the 2 x 2 inverse and determinant written out. */
function logDensity2d(x: number[], s: number): number {
  let p = 0;
  for (const c of mixture2d.components) {
    const [[a, b], [, d]] = c.covariance;
    const [aa, dd] = [a + s * s, d + s * s];
    const det = aa * dd - b * b;
    const [u, v] = [x[0] - c.mean[0], x[1] - c.mean[1]];
    const q = (dd * u * u - 2 * b * u * v + aa * v * v) / det;
    p += (c.weight * Math.exp(-0.5 * q)) / (2 * Math.PI * Math.sqrt(det));
  }
  return Math.log(p);
}

const points = [[-1.1, 0.4], [0.2, 0.1], [0.9, -1.0], [1.3, 1.5], [-3, 2]];

test('the mixture density noised to sigma matches the closed form', () => {
  for (const s of [0, 0.3, 1.7]) {
    for (const x of points) assert.ok(Math.abs(mixture2d.logDensity(x, s) - logDensity2d(x, s)) < 1e-10, `x = ${x}, sigma = ${s}`);
  }
});

test("the exact denoiser satisfies Tweedie's formula D(x; sigma) = x + sigma^2 grad log p_sigma(x)", () => {
  const h = 1e-5;
  for (const s of [0.05, 0.4, 2, 20]) {
    for (const x of points) {
      const d = mixture2d.posterior(x, s).mean;
      for (let i = 0; i < 2; i++) {
        const up = [...x];
        const down = [...x];
        up[i] += h;
        down[i] -= h;
        const grad = (logDensity2d(up, s) - logDensity2d(down, s)) / (2 * h);
        const tweedie = x[i] + s * s * grad;
        assert.ok(Math.abs(d[i] - tweedie) < 1e-6 * Math.max(1, s * s), `x = ${x}, sigma = ${s}: ${d[i]} vs ${tweedie}`);
      }
    }
  }
});

test('the denoiser takes one noise level per sample', () => {
  const sigmas = [0.01, 0.5, 3, 0.5, 40];
  const x = points.flat();
  const out = mixture2d.denoiser()(T.fromArray(x, [5, 2, 1, 1]), T.fromArray(sigmas, [5]));
  assert.deepEqual(out.shape, [5, 2, 1, 1]);
  const got = out.toFloat32Array();
  points.forEach((p, i) => {
    const m = mixture2d.posterior(p, Math.fround(sigmas[i])).mean;
    for (let j = 0; j < 2; j++) assert.ok(Math.abs(got[i * 2 + j] - m[j]) < 1e-6);
  });
  assert.throws(() => mixture2d.denoiser()(T.zeros([2, 3, 1, 1]), T.ones([2])), /does not hold 2 numbers per sample/);
});

test('draws from the mixture pass the statistical comparison the sampler tests use', () => {
  // Also calibrates that comparison: exact samples stay within its tolerance.
  const z = assertReproducesMixture(mixture2d, Float32Array.from(mixture2d.sample(4000, new T.Generator(2))), 0);
  assert.ok(z < 5);
});

test('bad mixtures are rejected', () => {
  assert.throws(() => new GaussianMixture([{ weight: 0.5, mean: [0], covariance: [[1]] }]), /weights must sum to 1/);
  assert.throws(() => new GaussianMixture([{ weight: 1, mean: [0, 0], covariance: [[1, 2], [2, 1]] }]), /not positive definite/);
  assert.throws(() => new GaussianMixture([{ weight: 1, mean: [0, 0], covariance: [[1, 0.1], [0.2, 1]] }]), /not symmetric/);
});
