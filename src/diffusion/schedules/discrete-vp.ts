/**
 * A discrete-time DDPM schedule (N steps of beta_n, alpha_bar_n = prod_{i<=n} (1 - beta_i)) as LDM trains it,
 * made continuous the way DPM-Solver does: step n sits at time t_n = (n + 1) / N and log(alpha) is
 * interpolated linearly in t between steps (and extrapolated along the end segments), so samplers written for
 * continuous time run on it unchanged. The network sees the (fractional) step index n = N t - 1.
 */
import { type NoiseDistribution, uniformStep } from '../noise-distribution.js';
import { type VPSchedule, logAlphaFromSigma, sigmaFromLogAlpha } from './vp-schedule.js';

export interface DiscreteBetaOptions {
  steps?: number;
  betaStart?: number;
  betaEnd?: number;
}

export class DiscreteVPSchedule implements VPSchedule {
  readonly name = 'vp-discrete';
  readonly tMax = 1;
  readonly tEnd: number;
  readonly steps: number;
  /** log(alpha) at each step: 0.5 * log(alpha_bar_n), decreasing. */
  private readonly logAlphas: Float64Array;

  constructor(readonly betas: Float64Array) {
    if (betas.length < 2) throw new Error(`a discrete schedule needs at least 2 steps, got ${betas.length}`);
    for (const b of betas) if (!(b > 0 && b < 1)) throw new Error(`every beta must lie in (0, 1), got ${b}`);
    this.steps = betas.length;
    this.tEnd = 1 / this.steps;
    this.logAlphas = new Float64Array(this.steps);
    let acc = 0;
    betas.forEach((b, n) => {
      acc += 0.5 * Math.log1p(-b);
      this.logAlphas[n] = acc;
    });
  }

  /** DDPM's linear schedule: beta linear from betaStart to betaEnd (default 1000 steps, 1e-4 -> 0.02). */
  static linear(options: DiscreteBetaOptions = {}): DiscreteVPSchedule {
    const { steps = 1000, betaStart = 1e-4, betaEnd = 0.02 } = options;
    return new DiscreteVPSchedule(linspace(betaStart, betaEnd, steps));
  }

  /**
   * LDM's "linear" schedule: sqrt(beta) linear from sqrt(betaStart) to sqrt(betaEnd); its CelebA-HQ models
   * use 1000 steps, 0.0015 -> 0.0195 (the defaults here).
   */
  static scaledLinear(options: DiscreteBetaOptions = {}): DiscreteVPSchedule {
    const { steps = 1000, betaStart = 0.0015, betaEnd = 0.0195 } = options;
    return new DiscreteVPSchedule(linspace(Math.sqrt(betaStart), Math.sqrt(betaEnd), steps).map((v) => v * v));
  }

  timeOfStep(step: number): number {
    return (step + 1) / this.steps;
  }

  stepOf(t: number): number {
    return t * this.steps - 1;
  }

  /** EDM sigma of step n, exactly as in the table: sqrt(1 / alpha_bar_n - 1). */
  sigmaAtStep(step: number): number {
    if (!Number.isInteger(step) || step < 0 || step >= this.steps) throw new Error(`step ${step} outside 0..${this.steps - 1}`);
    return sigmaFromLogAlpha(this.logAlphas[step]);
  }

  logAlpha(t: number): number {
    const x = this.stepOf(t);
    const i = Math.min(Math.max(Math.floor(x), 0), this.steps - 2);
    return this.logAlphas[i] + (x - i) * (this.logAlphas[i + 1] - this.logAlphas[i]);
  }

  sigma(t: number): number {
    return sigmaFromLogAlpha(this.logAlpha(t));
  }

  time(sigma: number): number {
    const target = logAlphaFromSigma(sigma);
    if (target === -Infinity) return Infinity;
    // logAlphas decreases with the step: find the segment [i, i + 1] that brackets the target.
    let lo = 0;
    let hi = this.steps - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (this.logAlphas[mid] >= target) lo = mid;
      else hi = mid;
    }
    const step = lo + (target - this.logAlphas[lo]) / (this.logAlphas[hi] - this.logAlphas[lo]);
    return this.timeOfStep(step);
  }

  modelInput(t: number): number {
    return this.stepOf(t);
  }

  /** LDM draws an integer step uniformly from 0..N-1. */
  trainingDistribution(): NoiseDistribution {
    return uniformStep(this.steps, (k) => this.sigma(this.timeOfStep(k)));
  }
}

function linspace(a: number, b: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = a + ((b - a) * i) / (n - 1);
  return out;
}
