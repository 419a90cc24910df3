import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { DiscreteVPSchedule, LinearVPSchedule, type SamplerSpec, type VPSchedule, sample } from '../../src/diffusion/index.js';
import { latentsOf, mixture1d } from './mixture-helpers.js';

T.setBackend(cpuBackend());

/*
 * The samplers are written in EDM's variables (x / alpha_t, sigma). Here the published algorithms run as the
 * official code writes them, in VP variables (x_t, alpha_t, sigma_t, lambda_t), in float64 on the host, with the
 * same exact denoiser; the library must land on the same points up to float32 rounding.
 */

const batch = 16;
const seed = 4;
const vp = new LinearVPSchedule();
const ldm = DiscreteVPSchedule.scaledLinear();

/**
 * The noise schedules as the official dpm_solver.py's NoiseScheduleVP writes them, independent of the
 * library's: 'linear' in closed form (marginal_log_mean_coeff and inverse_lambda), 'discrete' as piecewise
 * linear interpolation of log alpha over t_n = n / N.
 */
interface ReferenceSchedule {
  logAlpha(t: number): number;
  inverseLambda(lambda: number): number;
}

/** log(1 + e^x) without overflow. */
const softplus = (x: number) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x)));

function officialLinear(beta0: number, beta1: number): ReferenceSchedule {
  return {
    logAlpha: (t) => -0.25 * t * t * (beta1 - beta0) - 0.5 * t * beta0,
    inverseLambda: (lambda) => {
      const tmp = 2 * (beta1 - beta0) * softplus(-2 * lambda);
      return tmp / (Math.sqrt(beta0 * beta0 + tmp) + beta0) / (beta1 - beta0);
    },
  };
}

/** Linear interpolation through (xs[i], ys[i]), xs increasing, extended linearly past both ends. */
function interpolate(x: number, xs: number[], ys: number[]): number {
  let i = 0;
  while (i < xs.length - 2 && x > xs[i + 1]) i++;
  return ys[i] + ((ys[i + 1] - ys[i]) * (x - xs[i])) / (xs[i + 1] - xs[i]);
}

/** LDM's CelebA-HQ betas: (linspace(sqrt(0.0015), sqrt(0.0195), 1000))^2. */
function officialScaledLinear(): ReferenceSchedule {
  const n = 1000;
  const betas = Array.from({ length: n }, (_, i) => (Math.sqrt(0.0015) + ((Math.sqrt(0.0195) - Math.sqrt(0.0015)) * i) / (n - 1)) ** 2);
  const times = Array.from({ length: n }, (_, i) => (i + 1) / n);
  const logAlphas: number[] = [];
  betas.reduce((sum, b) => (logAlphas.push(0.5 * (sum + Math.log(1 - b))), sum + Math.log(1 - b)), 0);
  return {
    logAlpha: (t) => interpolate(t, times, logAlphas),
    inverseLambda: (lambda) => interpolate(-0.5 * softplus(-2 * lambda), [...logAlphas].reverse(), [...times].reverse()),
  };
}

class VPReference {
  constructor(readonly schedule: ReferenceSchedule) {}
  alpha = (t: number) => Math.exp(this.schedule.logAlpha(t));
  std = (t: number) => Math.sqrt(1 - Math.exp(2 * this.schedule.logAlpha(t)));
  lambda = (t: number) => Math.log(this.alpha(t) / this.std(t));
  inverseLambda = (lambda: number) => this.schedule.inverseLambda(lambda);

  /** The data prediction x0(x_t, t) of the exact denoiser. */
  data(x: number[], t: number): number[] {
    const a = this.alpha(t);
    const sigma = this.std(t) / a;
    return x.map((v) => mixture1d.posterior([v / a], sigma).mean[0]);
  }

  /** The noise prediction eps(x_t, t) = (x_t - alpha_t x0) / sigma_t. */
  noise(x: number[], t: number): number[] {
    const d = this.data(x, t);
    return x.map((v, i) => (v - this.alpha(t) * d[i]) / this.std(t));
  }

  timeSteps(spacing: string, tT: number, t0: number, n: number): number[] {
    return Array.from({ length: n + 1 }, (_, i) => {
      if (spacing === 'logSNR') return this.inverseLambda(this.lambda(tT) + ((this.lambda(t0) - this.lambda(tT)) * i) / n);
      if (spacing === 'time-uniform') return tT + ((t0 - tT) * i) / n;
      return (Math.sqrt(tT) + ((Math.sqrt(t0) - Math.sqrt(tT)) * i) / n) ** 2;
    });
  }
}

const lin = (a: number[], ...terms: [number, number[]][]): number[] => a.map((_, i) => terms.reduce((s, [c, v]) => s + c * v[i], 0));

/** Singlestep DPM-Solver ('dpmsolver' algorithm, 'singlestep' method) as in the official dpm_solver.py. */
function dpmSolverFast(ref: VPReference, x: number[], steps: number, order: number, spacing: string, tT: number, t0: number): number[] {
  const k = order === 3 ? Math.floor(steps / 3) + 1 : order === 2 ? Math.floor(steps / 2) + (steps % 2) : steps;
  let orders: number[];
  if (order === 3) orders = steps % 3 === 0 ? [...Array(k - 2).fill(3), 2, 1] : steps % 3 === 1 ? [...Array(k - 1).fill(3), 1] : [...Array(k - 1).fill(3), 2];
  else if (order === 2) orders = steps % 2 === 0 ? Array(k).fill(2) : [...Array(k - 1).fill(2), 1];
  else orders = Array(steps).fill(1);
  let outer: number[];
  if (spacing === 'logSNR') outer = ref.timeSteps(spacing, tT, t0, k);
  else {
    const all = ref.timeSteps(spacing, tT, t0, steps);
    outer = [0];
    for (const o of orders) outer.push(outer[outer.length - 1] + o);
    outer = outer.map((i) => all[i]);
  }
  orders.forEach((o, step) => {
    const [s, t] = [outer[step], outer[step + 1]];
    const inner = ref.timeSteps(spacing, s, t, o).map(ref.lambda);
    const h = inner[o] - inner[0];
    const a = (u: number) => Math.exp(ref.schedule.logAlpha(u) - ref.schedule.logAlpha(s));
    const eps = ref.noise(x, s);
    const phi1 = Math.expm1(h);
    if (o === 1) {
      x = lin(x, [a(t), x], [-ref.std(t) * phi1, eps]);
      return;
    }
    const r1 = (inner[1] - inner[0]) / h;
    const s1 = ref.inverseLambda(inner[0] + r1 * h);
    const x1 = lin(x, [a(s1), x], [-ref.std(s1) * Math.expm1(r1 * h), eps]);
    const eps1 = ref.noise(x1, s1);
    if (o === 2) {
      x = lin(x, [a(t), x], [-ref.std(t) * phi1, eps], [(-0.5 / r1) * ref.std(t) * phi1, eps1.map((v, i) => v - eps[i])]);
      return;
    }
    const r2 = (inner[2] - inner[0]) / h;
    const s2 = ref.inverseLambda(inner[0] + r2 * h);
    const phi22 = Math.expm1(r2 * h) / (r2 * h) - 1;
    const x2 = lin(x, [a(s2), x], [-ref.std(s2) * Math.expm1(r2 * h), eps], [(-r2 / r1) * ref.std(s2) * phi22, eps1.map((v, i) => v - eps[i])]);
    const eps2 = ref.noise(x2, s2);
    const phi2 = phi1 / h - 1;
    x = lin(x, [a(t), x], [-ref.std(t) * phi1, eps], [(-1 / r2) * ref.std(t) * phi2, eps2.map((v, i) => v - eps[i])]);
  });
  return x;
}

/** Multistep DPM-Solver++ of order 2 ('dpmsolver++', 'multistep', lower_order_final) as in dpm_solver.py. */
function dpmSolverPlusPlus2M(ref: VPReference, x: number[], steps: number, spacing: string, tT: number, t0: number): number[] {
  const ts = ref.timeSteps(spacing, tT, t0, steps);
  let prev: number[] = [];
  let cur = ref.data(x, ts[0]);
  for (let step = 1; step <= steps; step++) {
    const [p1, p0, t] = [ts[step - 2], ts[step - 1], ts[step]];
    const h = ref.lambda(t) - ref.lambda(p0);
    const phi1 = Math.expm1(-h);
    const order = step === 1 || (steps < 10 && step === steps) ? 1 : 2;
    if (order === 1) x = lin(x, [ref.std(t) / ref.std(p0), x], [-ref.alpha(t) * phi1, cur]);
    else {
      const r0 = (ref.lambda(p0) - ref.lambda(p1)) / h;
      const d1 = cur.map((v, i) => (v - prev[i]) / r0);
      x = lin(x, [ref.std(t) / ref.std(p0), x], [-ref.alpha(t) * phi1, cur], [-0.5 * ref.alpha(t) * phi1, d1]);
    }
    prev = cur;
    if (step < steps) cur = ref.data(x, t);
  }
  return x;
}

/** LDM's DDIM update (ddim.py p_sample_ddim) with alpha_bar at the grid's times; `noise` gives z of each step. */
function ddim(ref: VPReference, x: number[], steps: number, eta: number, spacing: string, tT: number, t0: number, noise: () => number[]): number[] {
  const ts = ref.timeSteps(spacing, tT, t0, steps);
  for (let i = 0; i < steps; i++) {
    const aT = ref.alpha(ts[i]) ** 2;
    const aPrev = ref.alpha(ts[i + 1]) ** 2;
    const e = ref.noise(x, ts[i]);
    const predX0 = x.map((v, j) => (v - Math.sqrt(1 - aT) * e[j]) / Math.sqrt(aT));
    const sigma = eta * Math.sqrt((1 - aPrev) / (1 - aT)) * Math.sqrt(1 - aT / aPrev);
    const z = sigma > 0 ? noise() : x.map(() => 0);
    x = x.map((_, j) => Math.sqrt(aPrev) * predX0[j] + Math.sqrt(1 - aPrev - sigma * sigma) * e[j] + sigma * z[j]);
  }
  return x;
}

function compare(spec: SamplerSpec, steps: number, schedule: VPSchedule, reference: (ref: VPReference, xT: number[], noise: () => number[]) => number[]): number {
  const ref = new VPReference(schedule === vp ? officialLinear(0.1, 20) : officialScaledLinear());
  // One generator feeds the latents (x_T ~ N(0, I)) and then the fresh noise of each step, in that order.
  const generator = new T.Generator(seed);
  const xT = Array.from(generator.normal([batch, 1, 1, 1]).toFloat32Array());
  assert.deepEqual(xT, Array.from(latentsOf(seed, [batch, 1, 1, 1])));
  const noise = () => Array.from(generator.normal([batch, 1, 1, 1]).toFloat32Array());
  const expected = reference(ref, xT, noise);
  const tEnd = (spec as { tEnd?: number }).tEnd ?? schedule.tEnd;
  const { images } = sample({ model: mixture1d.denoiser(), shape: [1, 1, 1], batch, seed, sampler: { ...spec, schedule } as SamplerSpec, steps });
  const got = images.toFloat32Array();
  let worst = 0;
  // The library returns x_t / alpha_t.
  expected.forEach((v, i) => (worst = Math.max(worst, Math.abs(got[i] - v / ref.alpha(tEnd)))));
  return worst;
}


test('singlestep DPM-Solver matches the official algorithm (orders 1-3, every spacing, odd step counts)', () => {
  for (const [order, steps, spacing, schedule] of [
    [3, 20, 'logSNR', vp], [3, 10, 'time-uniform', vp], [3, 12, 'time-quadratic', vp], [2, 9, 'logSNR', vp], [2, 8, 'time-uniform', ldm], [1, 6, 'time-quadratic', ldm],
  ] as const) {
    const worst = compare({ name: 'dpm-solver', order, spacing }, steps, schedule, (ref, x) => dpmSolverFast(ref, x, steps, order, spacing, schedule.tMax, schedule.tEnd));
    assert.ok(worst < 1e-4, `order ${order}, ${steps} steps, ${spacing}, ${schedule.name}: differs by ${worst}`);
  }
});

test('DPM-Solver++(2M) matches the official multistep algorithm, with and without the lower-order final step', () => {
  for (const [steps, spacing, schedule] of [[20, 'time-uniform', ldm], [7, 'time-uniform', ldm], [15, 'logSNR', vp], [5, 'time-quadratic', vp]] as const) {
    const worst = compare({ name: 'dpm-solver++', spacing }, steps, schedule, (ref, x) => dpmSolverPlusPlus2M(ref, x, steps, spacing, schedule.tMax, schedule.tEnd));
    assert.ok(worst < 1e-4, `${steps} steps, ${spacing}, ${schedule.name}: differs by ${worst}`);
  }
});

test("DDIM matches LDM's update in alpha_bar, deterministic and stochastic", () => {
  for (const [eta, steps, schedule] of [[0, 25, ldm], [1, 25, ldm], [0.3, 40, vp]] as const) {
    const worst = compare({ name: 'ddim', eta }, steps, schedule, (ref, x, noise) => ddim(ref, x, steps, eta, 'time-uniform', schedule.tMax, schedule.tEnd, noise));
    assert.ok(worst < 1e-4, `eta ${eta}, ${steps} steps, ${schedule.name}: differs by ${worst}`);
  }
});
