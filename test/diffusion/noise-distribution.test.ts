/**
 * The training distributions of noise levels at their edges: stage sampling asks for the CDF at a
 * partition's ends (0 and infinity) and at its boundaries, and for the quantile of [0, 1].
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DiscreteVPSchedule, LinearVPSchedule, logAlphaFromSigma, sigmaFromLogAlpha } from '../../src/diffusion/index.js';
import { type NoiseDistribution, logNormalSigma } from '../../src/diffusion/noise-distribution.js';
import { normalCdf } from '../../src/util/normal.js';

const linear = new LinearVPSchedule();
const discrete = DiscreteVPSchedule.linear();
const edm = logNormalSigma(-1.2, 1.2);
const vp = linear.trainingDistribution();
const ddpm = discrete.trainingDistribution();

/** Each distribution with the ends of its support. */
const DISTRIBUTIONS: [NoiseDistribution, number, number][] = [
  [edm, 0, Infinity],
  [vp, linear.sigma(1e-5), linear.sigma(1)],
  [ddpm, discrete.sigmaAtStep(0), discrete.sigmaAtStep(999)],
];

const SIGMAS = [0, Number.MIN_VALUE, 1e-300, 1e-12, 1e-3, 0.002, 0.5, 2.5103, 7.6577, 80, 152, 1e6, 1e154, 1e200, Number.MAX_VALUE, Infinity];

test('every noise distribution: cdf(0) = 0, cdf(infinity) = 1, monotone in [0, 1] from the smallest to the largest double', () => {
  for (const [d] of DISTRIBUTIONS) {
    assert.equal(d.cdf(0), 0, d.name);
    assert.equal(d.cdf(Infinity), 1, d.name);
    let previous = 0;
    for (const s of SIGMAS) {
      const p = d.cdf(s);
      assert.ok(p >= previous && p <= 1, `${d.name}: cdf(${s}) = ${p} after ${previous}`);
      previous = p;
    }
  }
});

test('every noise distribution: quantile(0) and quantile(1) are the ends of its support; quantile inverts the CDF', () => {
  for (const [d, lo, hi] of DISTRIBUTIONS) {
    assert.ok(Math.abs(d.quantile(0) - lo) <= 1e-12 * lo, `${d.name}: quantile(0) = ${d.quantile(0)}, expected ${lo}`);
    assert.ok(d.quantile(1) === hi || Math.abs(d.quantile(1) / hi - 1) < 1e-12, `${d.name}: quantile(1) = ${d.quantile(1)}, expected ${hi}`);
    assert.ok(1 - d.cdf(d.quantile(1)) < 1e-12, `${d.name}: cdf(quantile(1)) = ${d.cdf(d.quantile(1))}`);
    for (const p of [1e-300, 1e-9, 0.01, 0.3, 0.5, 0.9, 1 - 1e-9]) {
      const q = d.quantile(p);
      assert.ok(q > 0 && Number.isFinite(q), `${d.name}: quantile(${p}) = ${q}`);
      if (d === ddpm) {
        // a step distribution: the quantile is the step whose CDF jump covers p
        assert.ok(d.cdf(q) >= p && d.cdf(q) - p <= 1 / 1000 + 1e-12, `${d.name}: cdf(quantile(${p})) = ${d.cdf(q)}`);
      } else {
        assert.ok(Math.abs(d.cdf(q) - p) < 2e-7, `${d.name}: cdf(quantile(${p})) = ${d.cdf(q)}`);
      }
    }
  }
});

test('CDF values at the boundaries: the log-normal median and tails, VP t uniform, DDPM steps 1/N apart', () => {
  // log-normal: ln sigma ~ N(-1.2, 1.2^2), so sigma = e^-1.2 is the median and the paper's boundaries sit at these z.
  assert.ok(Math.abs(edm.cdf(Math.exp(-1.2)) - 0.5) < 1e-7);
  for (const b of [2.5103, 7.6577]) assert.ok(Math.abs(edm.cdf(b) - normalCdf((Math.log(b) + 1.2) / 1.2)) < 1e-15);
  // VP: t uniform on [1e-5, 1], so cdf(sigma(t)) = (t - 1e-5) / (1 - 1e-5), 0 below sigma(1e-5), 1 above sigma(1).
  for (const t of [1e-5, 1e-3, 0.442, 0.6308, 0.99, 1]) assert.ok(Math.abs(vp.cdf(linear.sigma(t)) - (t - 1e-5) / (1 - 1e-5)) < 1e-12, `t = ${t}`);
  assert.equal(vp.cdf(linear.sigma(1e-5) * 0.999), 0);
  assert.equal(vp.cdf(linear.sigma(1) * 1.001), 1);
  // DDPM: the CDF jumps to (k + 1) / N at step k's sigma and is k / N just below it.
  for (const k of [0, 1, 250, 500, 998, 999]) {
    const s = discrete.sigmaAtStep(k);
    assert.ok(Math.abs(ddpm.cdf(s) - (k + 1) / 1000) < 1e-15, `step ${k}`);
    assert.ok(Math.abs(ddpm.cdf(s * (1 - 1e-12)) - k / 1000) < 1e-15, `below step ${k}`);
  }
});

test('VP schedules convert every sigma in [0, infinity]: no overflow of sigma^2 above 1e154', () => {
  assert.ok(logAlphaFromSigma(0) === 0);
  assert.equal(logAlphaFromSigma(Infinity), -Infinity);
  for (const s of [1e-200, 1e-8, 0.7, 1, 1.5, 1e8, 1e154, 1e200, 1e300]) {
    // log(alpha) = -ln(1 + sigma^2) / 2, in a form that holds for tiny and huge sigma alike
    const reference = s < 1e-3 ? -0.5 * s * s + 0.25 * s ** 4 : s > 1e7 ? -Math.log(s) - 0.5 / (s * s) : -0.5 * Math.log(1 + s * s);
    assert.ok(Math.abs(logAlphaFromSigma(s) - reference) <= 1e-14 * Math.abs(reference), `sigma ${s}: ${logAlphaFromSigma(s)} vs ${reference}`);
    // (below sigma ~ 1e-154, log(alpha) = -sigma^2 / 2 underflows to 0: no round trip there)
    if (s > 1e-100) assert.ok(Math.abs(sigmaFromLogAlpha(logAlphaFromSigma(s)) / s - 1) < 1e-12, `sigma ${s} round trip`);
  }
  for (const schedule of [linear, discrete]) {
    assert.equal(schedule.time(Infinity), Infinity, schedule.name);
    assert.equal(schedule.time(0) <= schedule.time(1e-300), true);
    let previous = schedule.time(0);
    for (const s of SIGMAS.slice(1, -1)) {
      const t = schedule.time(s);
      assert.ok(Number.isFinite(t) && t >= previous, `${schedule.name}: time(${s}) = ${t} after ${previous}`);
      previous = t;
    }
  }
});

test('NaN, negative noise levels and probabilities outside [0, 1] are refused with the distribution named', () => {
  for (const [d] of DISTRIBUTIONS) {
    for (const bad of [NaN, -1, -Infinity]) assert.throws(() => d.cdf(bad), (e: Error) => e.message.includes(d.name) && /sigma in \[0, infinity\]/.test(e.message));
    for (const bad of [NaN, -1e-9, 1.5]) assert.throws(() => d.quantile(bad), (e: Error) => e.message.includes(d.name) && /probability in \[0, 1\]/.test(e.message));
  }
});
