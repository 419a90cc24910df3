/**
 * score_sde's continuous VP SDE with beta(t) linear from beta0 to beta1 on t in [0, 1] (the DPM-Solver
 * multistage models use 0.1 -> 20): log alpha_t = -(beta1 - beta0) t^2 / 4 - beta0 t / 2, so
 * sigma(t) = sqrt(exp((beta1 - beta0) t^2 / 2 + beta0 t) - 1). The network sees 999 t, as in score_sde.
 */
import { type NoiseDistribution, uniformTime } from '../noise-distribution.js';
import { type VPSchedule, logAlphaFromSigma, sigmaFromLogAlpha } from './vp-schedule.js';

export interface LinearVPOptions {
  beta0?: number;
  beta1?: number;
  /** Smallest training time (score_sde: 1e-5); training draws t uniform in [trainingEps, 1]. */
  trainingEps?: number;
  /** Default end time of sampling (score_sde's sampling.eps, 1e-3 in the multistage config). */
  samplingEps?: number;
}

export class LinearVPSchedule implements VPSchedule {
  readonly name = 'vp-linear';
  readonly tMax = 1;
  readonly beta0: number;
  readonly beta1: number;
  readonly trainingEps: number;
  readonly tEnd: number;

  constructor(options: LinearVPOptions = {}) {
    this.beta0 = options.beta0 ?? 0.1;
    this.beta1 = options.beta1 ?? 20;
    this.trainingEps = options.trainingEps ?? 1e-5;
    this.tEnd = options.samplingEps ?? 1e-3;
    if (!(this.beta0 > 0) || !(this.beta1 > this.beta0)) throw new Error(`VP schedule needs 0 < beta0 < beta1, got beta0 = ${this.beta0}, beta1 = ${this.beta1}`);
    for (const [what, v] of [['trainingEps', this.trainingEps], ['samplingEps', this.tEnd]] as const) {
      if (!(v > 0 && v < 1)) throw new Error(`VP schedule ${what} must lie in (0, 1), got ${v}`);
    }
  }

  logAlpha(t: number): number {
    return -0.25 * t * t * (this.beta1 - this.beta0) - 0.5 * t * this.beta0;
  }

  sigma(t: number): number {
    return sigmaFromLogAlpha(this.logAlpha(t));
  }

  time(sigma: number): number {
    // Solve (beta1 - beta0) t^2 / 2 + beta0 t = L with L = ln(1 + sigma^2); this root form has no cancellation
    // when L is small (DPM-Solver's inverse_lambda uses the same). sigma = infinity is t = infinity.
    const L = -2 * logAlphaFromSigma(sigma);
    if (L === Infinity) return Infinity;
    const d = this.beta1 - this.beta0;
    return (2 * L) / (Math.sqrt(this.beta0 * this.beta0 + 2 * d * L) + this.beta0);
  }

  modelInput(t: number): number {
    return 999 * t;
  }

  /** score_sde: t uniform on [trainingEps, 1]. */
  trainingDistribution(): NoiseDistribution {
    return uniformTime(this.trainingEps, (t) => this.sigma(t), (sigma) => this.time(sigma));
  }
}
