import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { DiscreteVPSchedule, LinearVPSchedule, alphaFromSigma, partitionFromSteps, partitionFromTimes } from '../../src/diffusion/index.js';

T.setBackend(cpuBackend());

const vp = new LinearVPSchedule();

test("VP sigma(t) = sqrt(exp(0.5 (b1 - b0) t^2 + b0 t) - 1): the paper's boundaries t = 0.4420 and 0.6308", () => {
  for (const t of [1e-5, 1e-3, 0.1, 0.4420, 0.6308, 1]) {
    const direct = Math.sqrt(Math.exp(0.5 * (20 - 0.1) * t * t + 0.1 * t) - 1);
    assert.ok(Math.abs(vp.sigma(t) / direct - 1) < 1e-9, `t = ${t}: ${vp.sigma(t)} vs ${direct}`);
    // x_t / alpha_t = x0 + sigma eps: sigma is the VP std over the VP mean coefficient.
    const alpha = Math.exp(vp.logAlpha(t));
    assert.ok(Math.abs(Math.sqrt(1 - alpha * alpha) / alpha / vp.sigma(t) - 1) < 1e-9);
    assert.ok(Math.abs(alphaFromSigma(vp.sigma(t)) / alpha - 1) < 1e-12);
  }
  assert.ok(Math.abs(vp.sigma(0.4420) - 2.5103) < 5e-5, `sigma(0.4420) = ${vp.sigma(0.4420)}`);
  const upper = vp.sigma(0.6308);
  assert.ok(upper > 7.4 && upper < 7.66, `sigma(0.6308) = ${upper}`);
});

test('VP time(sigma) inverts sigma(t) to full precision, down to t = 1e-7', () => {
  for (const t of [1e-7, 1e-5, 1e-3, 0.05, 0.4420, 0.9, 1]) assert.ok(Math.abs(vp.time(vp.sigma(t)) / t - 1) < 1e-12, `t = ${t}: ${vp.time(vp.sigma(t))}`);
  assert.equal(vp.modelInput(0.5), 999 * 0.5);
});

test('discrete schedules: alpha_bar = prod(1 - beta), sigma_n = sqrt(1 / alpha_bar_n - 1), step n at t = (n + 1) / N', () => {
  const ddpm = DiscreteVPSchedule.linear();
  const ldm = DiscreteVPSchedule.scaledLinear();
  assert.ok(Math.abs(ddpm.betas[0] - 1e-4) < 1e-15 && Math.abs(ddpm.betas[999] - 0.02) < 1e-15);
  assert.ok(Math.abs(ldm.betas[0] - 0.0015) < 1e-15 && Math.abs(ldm.betas[999] - 0.0195) < 1e-15);
  assert.ok(Math.abs(Math.sqrt(ldm.betas[500]) - (Math.sqrt(0.0015) + (500 / 999) * (Math.sqrt(0.0195) - Math.sqrt(0.0015)))) < 1e-15);
  for (const s of [ddpm, ldm]) {
    let alphaBar = 1;
    for (let n = 0; n < 1000; n++) {
      alphaBar *= 1 - s.betas[n];
      const sigma = Math.sqrt(1 / alphaBar - 1);
      assert.ok(Math.abs(s.sigmaAtStep(n) / sigma - 1) < 1e-10, `step ${n}`);
      assert.ok(Math.abs(s.sigma(s.timeOfStep(n)) / sigma - 1) < 1e-10);
      assert.ok(Math.abs(s.stepOf(s.time(sigma)) - n) < 1e-7, `step ${n} round trip: ${s.stepOf(s.time(sigma))}`);
      assert.equal(s.modelInput(s.timeOfStep(n)), s.stepOf(s.timeOfStep(n)));
    }
    // Between steps log(alpha) is linear in t, as DPM-Solver interpolates it.
    const mid = 0.5 * (s.logAlpha(s.timeOfStep(411)) + s.logAlpha(s.timeOfStep(412)));
    assert.ok(Math.abs(s.logAlpha(s.timeOfStep(411.5)) - mid) < 1e-12);
    assert.ok(Math.abs(s.time(s.sigma(0.4567)) - 0.4567) < 1e-12);
  }
  assert.throws(() => new DiscreteVPSchedule(Float64Array.from([0.1, 1.5])), /every beta must lie in \(0, 1\)/);
});

test('stage boundaries in VP time and in DDPM steps become sigma boundaries that route as the official code does', () => {
  const p = partitionFromTimes(vp, [0.4420, 0.6308]);
  assert.deepEqual(p.boundaries, [vp.sigma(0.4420), vp.sigma(0.6308)]);
  // score_sde: t <= 0.4420 is stage 0, t <= 0.6308 stage 1, else stage 2.
  assert.deepEqual([0.4420, 0.44201, 0.6308, 0.63081].map((t) => p.stageOf(vp.sigma(t))), [0, 1, 1, 2]);
  for (let t = 0.001; t <= 1; t += 0.0007) {
    const expected = t <= 0.4420 ? 0 : t <= 0.6308 ? 1 : 2;
    assert.equal(p.stageOf(vp.sigma(t)), expected, `t = ${t}`);
  }
  // LDM: step < 442 is stage 0, step < 631 stage 1; checked on the float32 sigma a network receives.
  const ldm = DiscreteVPSchedule.scaledLinear();
  const q = partitionFromSteps(ldm, [442, 631]);
  for (let n = 0; n < 1000; n++) assert.equal(q.stageOf(Math.fround(ldm.sigmaAtStep(n))), n < 442 ? 0 : n < 631 ? 1 : 2, `step ${n}`);
  assert.throws(() => partitionFromTimes(vp, [0.5, 1.2]), /outside \(0, 1\)/);
  assert.throws(() => partitionFromSteps(ldm, [442, 1000]), /outside 1\.\.999/);
});
