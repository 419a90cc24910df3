/**
 * GroupNorm as PyTorch computes it: per (sample, group) statistics over the group's channels and positions,
 * biased variance, y = (x - mean) * rstd * gamma[c] + beta[c]. A group is one contiguous block of
 * (c / groups) * hw elements in NCHW. Sums are taken in float64 (two passes for the variance).
 */
import type { GroupNormParams } from '../backend.js';
import { unary, unaryBackward } from './elementwise.js';
import { float32Scratch } from './scratch.js';

const preActivation = float32Scratch();
const preActivationGrad = float32Scratch();

/** GroupNorm, then SiLU in place when p.silu: the same numbers as the two ops one after the other. */
export function groupNormSilu(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array, p: GroupNormParams): void {
  groupNorm(x, gamma, beta, y, mean, rstd, p);
  if (p.silu) unary('silu', y, y, p.n * p.c * p.hw);
}

/** The backward of groupNormSilu: with SiLU, the pre-activation is recomputed from the saved statistics. */
export function groupNormSiluBackward(x: Float32Array, gamma: Float32Array, beta: Float32Array, mean: Float32Array, rstd: Float32Array, dy: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, p: GroupNormParams): void {
  if (!p.silu) return groupNormBackward(x, gamma, mean, rstd, dy, dx, dgamma, dbeta, p);
  const size = p.n * p.c * p.hw;
  const pre = preActivation.take(size);
  normalizeWithStatistics(x, gamma, beta, mean, rstd, pre, p);
  const dpre = preActivationGrad.take(size);
  unaryBackward('silu', pre, dy, dpre, size);
  groupNormBackward(x, gamma, mean, rstd, dpre, dx, dgamma, dbeta, p);
}

function normalizeWithStatistics(x: Float32Array, gamma: Float32Array, beta: Float32Array, mean: Float32Array, rstd: Float32Array, y: Float32Array, p: GroupNormParams): void {
  const channelsPerGroup = p.c / p.groups;
  const count = channelsPerGroup * p.hw;
  for (let s = 0; s < p.n * p.groups; s++) {
    const firstChannel = (s % p.groups) * channelsPerGroup;
    for (let cg = 0; cg < channelsPerGroup; cg++) {
      const scale = rstd[s] * gamma[firstChannel + cg];
      const shift = beta[firstChannel + cg] - mean[s] * scale;
      const base = s * count + cg * p.hw;
      for (let e = base; e < base + p.hw; e++) y[e] = x[e] * scale + shift;
    }
  }
}

export function groupNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array, p: GroupNormParams): void {
  const { n, c, hw, groups, eps } = p;
  const channelsPerGroup = c / groups;
  const count = channelsPerGroup * hw;
  for (let s = 0; s < n * groups; s++) {
    const start = s * count;
    let sum = 0;
    for (let e = start; e < start + count; e++) sum += x[e];
    const mu = sum / count;
    let squares = 0;
    for (let e = start; e < start + count; e++) squares += (x[e] - mu) ** 2;
    const r = 1 / Math.sqrt(squares / count + eps);
    mean[s] = mu;
    rstd[s] = r;
    const firstChannel = (s % groups) * channelsPerGroup;
    for (let cg = 0; cg < channelsPerGroup; cg++) {
      const scale = r * gamma[firstChannel + cg];
      const shift = beta[firstChannel + cg] - mu * scale;
      const base = start + cg * hw;
      for (let e = base; e < base + hw; e++) y[e] = x[e] * scale + shift;
    }
  }
}

/**
 * With xhat = (x - mean) * rstd and g = dy * gamma: dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) over
 * the group; dgamma[c] = sum of dy * xhat and dbeta[c] = sum of dy over samples and positions.
 */
export function groupNormBackward(x: Float32Array, gamma: Float32Array, mean: Float32Array, rstd: Float32Array, dy: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, p: GroupNormParams): void {
  const { n, c, hw, groups } = p;
  const channelsPerGroup = c / groups;
  const count = channelsPerGroup * hw;
  const dgammaSum = new Float64Array(c);
  const dbetaSum = new Float64Array(c);
  for (let s = 0; s < n * groups; s++) {
    const start = s * count;
    const mu = mean[s];
    const r = rstd[s];
    const firstChannel = (s % groups) * channelsPerGroup;
    let gSum = 0;
    let gXhatSum = 0;
    for (let cg = 0; cg < channelsPerGroup; cg++) {
      const ch = firstChannel + cg;
      const base = start + cg * hw;
      let dySum = 0;
      let dyXhatSum = 0;
      for (let e = base; e < base + hw; e++) {
        const xhat = (x[e] - mu) * r;
        dySum += dy[e];
        dyXhatSum += dy[e] * xhat;
      }
      dbetaSum[ch] += dySum;
      dgammaSum[ch] += dyXhatSum;
      gSum += gamma[ch] * dySum;
      gXhatSum += gamma[ch] * dyXhatSum;
    }
    const gMean = gSum / count;
    const gXhatMean = gXhatSum / count;
    for (let cg = 0; cg < channelsPerGroup; cg++) {
      const ch = firstChannel + cg;
      const base = start + cg * hw;
      for (let e = base; e < base + hw; e++) {
        const xhat = (x[e] - mu) * r;
        dx[e] = r * (dy[e] * gamma[ch] - gMean - xhat * gXhatMean);
      }
    }
  }
  dgamma.set(dgammaSum);
  dbeta.set(dbetaSum);
}
