/**
 * GroupNorm as PyTorch computes it: per (sample, group) statistics over the group's channels and positions,
 * biased variance, y = (x - mean) * rstd * gamma[c] + beta[c]. A group is one contiguous block of
 * (c / groups) * hw elements in NCHW. Sums are taken in float64 (two passes for the variance).
 */
import type { GroupNormParams } from '../backend.js';

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
