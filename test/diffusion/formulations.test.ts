import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import type { Tensor } from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import {
  DiscreteVPSchedule, EDMFormulation, GaussianMixture, LinearVPSchedule, type NoiseConditionedNetwork, VPFormulation, preconditioned,
} from '../../src/diffusion/index.js';
import { gradCheck, randomArray } from '../helpers/gradcheck.js';
import { drawSigmas } from '../../src/diffusion/noise-distribution.js';

T.setBackend(cpuBackend());

const edm = new EDMFormulation();
const vp = new VPFormulation(new LinearVPSchedule());

/** A 2-layer MLP over the flattened image and its noise label: the tiny network the losses are checked on. */
function mlp([w1, b1, w2, b2]: Tensor[], labelScale: number): NoiseConditionedNetwork {
  return (x, label) => {
    const b = x.shape[0];
    const input = T.concat([T.reshape(x, [b, -1]), T.reshape(T.mulScalar(label, 1 / labelScale), [b, 1])], 1);
    return T.reshape(T.linear(T.tanh(T.linear(input, w1, b1)), w2, b2), x.shape);
  };
}

const shape = [4, 2, 1, 2];
const x0 = T.fromArray(randomArray(16, 1), shape);
const noise = T.fromArray(randomArray(16, 2, true), shape);
const sigma = Float64Array.from([0.05, 0.4, 2.5, 30]);
const weights = [
  { data: randomArray(30, 3), shape: [6, 5] },
  { data: randomArray(6, 4), shape: [6] },
  { data: randomArray(24, 5), shape: [4, 6] },
  { data: randomArray(4, 6), shape: [4] },
];

test('EDM preconditioning: unit-variance network input and target, loss weight 1 / c_out^2', () => {
  const sd = edm.sigmaData;
  for (const s of [0.002, 0.1, 0.5, 2.5, 80]) {
    const p = edm.preconditioning(s);
    // For data of variance sigma_data^2 noised to sigma: Var(c_in x) = 1 and Var((x0 - c_skip x) / c_out) = 1.
    assert.ok(Math.abs(p.cIn ** 2 * (sd * sd + s * s) - 1) < 1e-12);
    assert.ok(Math.abs(((1 - p.cSkip) ** 2 * sd * sd + p.cSkip ** 2 * s * s) / p.cOut ** 2 - 1) < 1e-12);
    assert.ok(Math.abs(edm.lossWeight(s) * p.cOut ** 2 - 1) < 1e-12);
    assert.equal(p.cNoise, Math.log(s) / 4);
  }
});

test('EDM loss gradients on a tiny network match finite differences', () => {
  gradCheck(([w1, b1, w2, b2, x]) => edm.loss(preconditioned(mlp([w1, b1, w2, b2], 1), (s) => edm.preconditioning(s)), x, sigma, noise), [
    ...weights,
    { data: x0.toFloat32Array(), shape },
  ]);
});

test('VP epsilon loss gradients on a tiny network match finite differences', () => {
  gradCheck((ws) => vp.loss(mlp(ws, 1000), x0, sigma, noise), weights);
});

test('VP and EDM agree through the conversions: same sigma, same noisy point; eps-MSE = EDM loss at weight 1 / sigma^2', () => {
  const seen: { x: Float32Array; label: Float32Array; sigma: Float32Array }[] = [];
  const base = mlp(weights.map((w) => T.fromArray(w.data, w.shape)), 1000);
  const spy: NoiseConditionedNetwork = (x, label, s) => {
    seen.push({ x: x.toFloat32Array(), label: label.toFloat32Array(), sigma: s.toFloat32Array() });
    return base(x, label, s);
  };
  const vpLoss = vp.loss(spy, x0, sigma, noise).toFloat32Array();
  // EDM's noisy point x0 + sigma n through VP's preconditioning (c_in = alpha_t, label 999 t(sigma)).
  const edmNoisy = T.add(x0, T.mul(noise, T.fromArray(Float32Array.from(sigma), [4, 1, 1, 1])));
  const denoised = vp.denoiser(spy)(edmNoisy, T.fromArray(Float32Array.from(sigma), [4])).toFloat32Array();
  const [fromLoss, fromDenoiser] = seen;
  const close = (a: Float32Array, b: Float32Array, tol: number) => a.every((v, i) => Math.abs(v - b[i]) <= tol * Math.max(1, Math.abs(b[i])));
  assert.ok(close(fromLoss.x, fromDenoiser.x, 2e-6), `network inputs differ: ${fromLoss.x} vs ${fromDenoiser.x}`);
  assert.ok(close(fromLoss.label, fromDenoiser.label, 1e-6), `labels differ: ${fromLoss.label} vs ${fromDenoiser.label}`);
  assert.deepEqual(fromLoss.sigma, fromDenoiser.sigma);
  // The label is score_sde's 999 t with t solving sigma(t) = sigma.
  fromLoss.label.forEach((l, i) => assert.ok(Math.abs(vp.schedule.sigma(l / 999) / sigma[i] - 1) < 1e-5));
  const y = x0.toFloat32Array();
  for (let b = 0; b < 4; b++) {
    let se = 0;
    for (let j = 0; j < 4; j++) se += (denoised[b * 4 + j] - y[b * 4 + j]) ** 2;
    const viaEDM = se / 4 / sigma[b] ** 2;
    assert.ok(Math.abs(viaEDM - vpLoss[b]) < 1e-3 * vpLoss[b] + 1e-6, `sample ${b}: eps-MSE ${vpLoss[b]} vs ${viaEDM}`);
  }
});

test('the optimal denoiser scores the losses their closed-form minima (Monte Carlo within 5 standard errors)', () => {
  // Data N(0, v I) in 8 dimensions: the posterior variance per dimension is v s^2 / (v + s^2), so with v = sigma_data^2
  // EDM's weighted loss is exactly 1 per pixel at every sigma, and VP's eps-MSE is v / (v + s^2).
  const v = edm.sigmaData ** 2;
  const gaussian = new GaussianMixture([{ weight: 1, mean: new Array(8).fill(0), covariance: Array.from({ length: 8 }, (_, i) => Array.from({ length: 8 }, (_, j) => (i === j ? v : 0))) }]);
  const n = 2000;
  const g = new T.Generator(9);
  const data = T.fromArray(Float32Array.from(gaussian.sample(n, g)), [n, 8, 1, 1]);
  const eps = g.normal([n, 8, 1, 1]);
  for (const s of [0.05, 0.5, 3]) {
    const levels = new Float64Array(n).fill(s);
    const exactEps: NoiseConditionedNetwork = (xt, _label, sig) => {
      // The exact eps of VP's input: eps = (x - D(x; sigma)) / sigma with x = x_t / alpha.
      const x = T.mulScalar(xt, Math.sqrt(1 + s * s));
      return T.mulScalar(T.sub(x, gaussian.denoiser()(x, sig)), 1 / s);
    };
    for (const [what, losses, expected] of [
      ['EDM', edm.loss(gaussian.denoiser(), data, levels, eps).toFloat32Array(), 8],
      ['VP', vp.loss(exactEps, data, levels, eps).toFloat32Array(), v / (v + s * s)],
    ] as const) {
      const mean = losses.reduce((a, b) => a + b, 0) / n;
      const sd = Math.sqrt(losses.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
      assert.ok(Math.abs(mean - expected) < (5 * sd) / Math.sqrt(n), `${what} at sigma ${s}: mean loss ${mean}, expected ${expected}`);
    }
  }
});

test('training noise levels follow each formulation: EDM log-normal, VP t uniform on [1e-5, 1], DDPM integer steps', () => {
  const n = 20000;
  const moments = (xs: ArrayLike<number>) => {
    const a = Array.from(xs);
    const m = a.reduce((s, x) => s + x, 0) / a.length;
    return { m, v: a.reduce((s, x) => s + (x - m) ** 2, 0) / (a.length - 1) };
  };
  const lnSigma = moments(drawSigmas(edm.trainingDistribution(), n, new T.Generator(1)).map(Math.log));
  assert.ok(Math.abs(lnSigma.m + 1.2) < 5 * (1.2 / Math.sqrt(n)), `mean ln sigma ${lnSigma.m}`);
  assert.ok(Math.abs(Math.sqrt(lnSigma.v) - 1.2) < 5 * (1.2 / Math.sqrt(2 * n)), `sd ln sigma ${Math.sqrt(lnSigma.v)}`);

  const times = Array.from(drawSigmas(vp.trainingDistribution(), n, new T.Generator(2)), (s) => vp.schedule.time(s));
  assert.ok(times.every((t) => t >= 1e-5 - 1e-12 && t <= 1 + 1e-12));
  const t = moments(times);
  const width = 1 - 1e-5;
  assert.ok(Math.abs(t.m - (1 + 1e-5) / 2) < 5 * Math.sqrt(width ** 2 / 12 / n), `mean t ${t.m}`);

  const ddpm = new VPFormulation(DiscreteVPSchedule.linear());
  const schedule = ddpm.schedule as DiscreteVPSchedule;
  const steps = Array.from(drawSigmas(ddpm.trainingDistribution(), n, new T.Generator(3)), (s) => schedule.stepOf(schedule.time(s)));
  assert.ok(steps.every((k) => Math.abs(k - Math.round(k)) < 1e-6 && k > -0.5 && k < 999.5), 'DDPM trains on integer steps 0..999');
  assert.ok(Math.abs(moments(steps).m - 499.5) < 5 * Math.sqrt((1000 ** 2 - 1) / 12 / n));
});

test('losses reject mismatched arguments with clear errors', () => {
  const denoiser = new GaussianMixture([{ weight: 1, mean: [0, 0, 0, 0], covariance: [[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]] }]).denoiser();
  assert.throws(() => edm.loss(denoiser, x0, Float64Array.from([1, 1]), noise), /2 noise levels for a batch of 4/);
  assert.throws(() => edm.loss(denoiser, x0, Float64Array.from([1, 1, 0, 1]), noise), /noise levels must be finite and > 0/);
  assert.throws(() => edm.loss(denoiser, x0, sigma, T.zeros([4, 4])), /not shaped like the data/);
});
