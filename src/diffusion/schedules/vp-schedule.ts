/**
 * A variance-preserving noise schedule on continuous time t: x_t = alpha_t x0 + sqrt(1 - alpha_t^2) eps.
 * Dividing by alpha_t gives EDM's form x_t / alpha_t = x0 + sigma eps with sigma = sqrt(1 - alpha_t^2) / alpha_t,
 * which is how every VP quantity converts to the EDM sigma that samplers and stage partitions use.
 * DPM-Solver's half log-SNR is lambda_t = log(alpha_t / sqrt(1 - alpha_t^2)) = -ln(sigma).
 */
import type { NoiseDistribution } from '../noise-distribution.js';

export interface VPSchedule {
  readonly name: string;
  /** The last time of the forward process, where sampling starts (T). */
  readonly tMax: number;
  /** Where samplers stop by default (score_sde's sampling eps; 1/N for a discrete schedule). */
  readonly tEnd: number;
  /** log(alpha_t). */
  logAlpha(t: number): number;
  /** EDM sigma at time t. */
  sigma(t: number): number;
  /** The time whose EDM sigma is `sigma` (the inverse of sigma(t)), for sigma in [0, infinity]; infinity gives infinity. */
  time(sigma: number): number;
  /** The noise label the epsilon network is conditioned on at time t. */
  modelInput(t: number): number;
  /** The training distribution of noise levels, as the reference code draws them (in EDM sigma). */
  trainingDistribution(): NoiseDistribution;
}

/**
 * EDM sigma from log(alpha): sigma = sqrt(1 - alpha^2) / alpha, with expm1 so tiny noise levels keep their
 * digits, and without forming 1 / alpha^2, which overflows from sigma ~ 1e154 on.
 */
export function sigmaFromLogAlpha(logAlpha: number): number {
  return Math.exp(-logAlpha) * Math.sqrt(-Math.expm1(2 * logAlpha));
}

/**
 * log(alpha) from EDM sigma: alpha = 1 / sqrt(1 + sigma^2). Above sigma = 1 it is -ln(sigma) - ln(1 + 1/sigma^2) / 2,
 * as sigma^2 overflows from sigma ~ 1e154 on; so every sigma in [0, infinity] has its log(alpha) in [-infinity, 0].
 */
export function logAlphaFromSigma(sigma: number): number {
  if (!(sigma >= 0)) throw new Error(`noise level sigma must be >= 0, got ${sigma}`);
  return sigma <= 1 ? -0.5 * Math.log1p(sigma * sigma) : -Math.log(sigma) - 0.5 * Math.log1p(1 / (sigma * sigma));
}

/** The scale alpha = 1 / sqrt(1 + sigma^2) that maps EDM's x0 + sigma n to the VP input x_t. */
export function alphaFromSigma(sigma: number): number {
  return 1 / Math.sqrt(1 + sigma * sigma);
}
