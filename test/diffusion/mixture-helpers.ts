/**
 * Shared by the sampler tests: the test mixtures, a recording wrapper around a denoiser, a statistical
 * comparison of samples with the mixture they should reproduce, and an independent float64 solution of the
 * probability-flow ODE.
 */
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { type Denoiser, GaussianMixture } from '../../src/diffusion/index.js';

/** Three well separated 2-D components with correlated covariances ([B, 2, 1, 1] as images). */
export const mixture2d = new GaussianMixture([
  { weight: 0.5, mean: [-1.2, 0.3], covariance: [[0.09, 0.03], [0.03, 0.05]] },
  { weight: 0.3, mean: [1.0, 1.2], covariance: [[0.06, -0.02], [-0.02, 0.08]] },
  { weight: 0.2, mean: [0.8, -1.3], covariance: [[0.1, 0], [0, 0.03]] },
]);

/**
 * Two overlapping 1-D components: the posterior changes smoothly everywhere, so every trajectory of the ODE is
 * smooth and a solver shows its asymptotic order already at moderate step counts.
 */
export const mixture1d = new GaussianMixture([
  { weight: 0.6, mean: [-0.7], covariance: [[0.2]] },
  { weight: 0.4, mean: [0.9], covariance: [[0.12]] },
]);

/** Wraps a denoiser to record the (float32) noise level of every call. */
export function recording(denoiser: Denoiser): { denoiser: Denoiser; sigmas: number[] } {
  const sigmas: number[] = [];
  return {
    sigmas,
    denoiser: (x, sigma) => {
      const s = sigma.toFloat32Array();
      assert.ok(s.every((v) => v === s[0]), 'a sampler evaluated one batch at several noise levels');
      sigmas.push(s[0]);
      return denoiser(x, sigma);
    },
  };
}

/**
 * Compares samples [n, dim] with `mixture` noised to `sigmaEnd` (the sampler's last level): each sample goes to
 * its most probable component, then every component's weight, mean and covariance entries must lie within
 * `z` standard errors of the truth (Gaussian standard errors for the sample size). Returns the largest |z|.
 */
export function assertReproducesMixture(mixture: GaussianMixture, samples: Float32Array, sigmaEnd: number, z = 5): number {
  const dim = mixture.dim;
  const n = samples.length / dim;
  const members: number[][] = mixture.components.map(() => []);
  for (let i = 0; i < n; i++) {
    const r = mixture.posterior(samples.subarray(i * dim, (i + 1) * dim), sigmaEnd).responsibilities;
    members[r.indexOf(Math.max(...r))].push(i);
  }
  const scores: { what: string; z: number }[] = [];
  mixture.components.forEach((c, k) => {
    const idx = members[k];
    const nk = idx.length;
    assert.ok(nk > 30, `component ${k} received only ${nk} of ${n} samples`);
    scores.push({ what: `weight ${k}`, z: (nk / n - c.weight) / Math.sqrt((c.weight * (1 - c.weight)) / n) });
    const cov = c.covariance.map((row, i) => row.map((v, j) => v + (i === j ? sigmaEnd * sigmaEnd : 0)));
    const mean = new Float64Array(dim);
    for (const i of idx) for (let d = 0; d < dim; d++) mean[d] += samples[i * dim + d] / nk;
    for (let d = 0; d < dim; d++) scores.push({ what: `mean ${k}[${d}]`, z: (mean[d] - c.mean[d]) / Math.sqrt(cov[d][d] / nk) });
    for (let a = 0; a < dim; a++) {
      for (let b = a; b < dim; b++) {
        let s = 0;
        for (const i of idx) s += (samples[i * dim + a] - mean[a]) * (samples[i * dim + b] - mean[b]);
        s /= nk - 1;
        scores.push({ what: `covariance ${k}[${a},${b}]`, z: (s - cov[a][b]) / Math.sqrt((cov[a][a] * cov[b][b] + cov[a][b] ** 2) / nk) });
      }
    }
  });
  const worst = scores.reduce((w, s) => (Math.abs(s.z) > Math.abs(w.z) ? s : w));
  assert.ok(Math.abs(worst.z) < z, `${worst.what} is ${worst.z.toFixed(2)} standard errors from the mixture's`);
  return Math.abs(worst.z);
}

/**
 * The probability-flow ODE dx/d(ln sigma) = x - D(x; sigma) solved in float64 by classical RK4 with `m` steps
 * uniform in ln(sigma), from sigmaFrom to sigmaTo; x is row-major [B, dim].
 */
export function solveFlow(mixture: GaussianMixture, x: Float64Array, sigmaFrom: number, sigmaTo: number, m = 4000): Float64Array {
  const dim = mixture.dim;
  const f = (y: Float64Array, u: number): Float64Array => {
    const out = new Float64Array(y.length);
    for (let i = 0; i < y.length; i += dim) {
      const d = mixture.posterior(y.subarray(i, i + dim), Math.exp(u)).mean;
      for (let j = 0; j < dim; j++) out[i + j] = y[i + j] - d[j];
    }
    return out;
  };
  const y = Float64Array.from(x);
  const u0 = Math.log(sigmaFrom);
  const h = (Math.log(sigmaTo) - u0) / m;
  const at = (k: Float64Array, c: number): Float64Array => y.map((v, i) => v + c * k[i]);
  for (let s = 0; s < m; s++) {
    const u = u0 + s * h;
    const k1 = f(y, u);
    const k2 = f(at(k1, h / 2), u + h / 2);
    const k3 = f(at(k2, h / 2), u + h / 2);
    const k4 = f(at(k3, h), u + h);
    for (let i = 0; i < y.length; i++) y[i] += (h / 6) * (k1[i] + 2 * k2[i] + 2 * k3[i] + k4[i]);
  }
  return y;
}

/** Least-squares slope of -log(error) against log(steps): the empirical order of convergence. */
export function convergenceOrder(steps: readonly number[], errors: readonly number[]): number {
  const lx = steps.map(Math.log);
  const ly = errors.map(Math.log);
  const mx = lx.reduce((a, b) => a + b) / lx.length;
  const my = ly.reduce((a, b) => a + b) / ly.length;
  let sxy = 0;
  let sxx = 0;
  lx.forEach((v, i) => {
    sxy += (v - mx) * (ly[i] - my);
    sxx += (v - mx) ** 2;
  });
  return -sxy / sxx;
}

export function rmsDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s / a.length);
}

/** The standard normal latents `sample({ seed })` starts from (its Generator's first draw). */
export function latentsOf(seed: number, shape: readonly number[]): Float64Array {
  return Float64Array.from(new T.Generator(seed).normal(shape).toFloat32Array());
}
