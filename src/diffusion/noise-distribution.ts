/**
 * A formulation's training distribution of noise levels, expressed in EDM's sigma so that one
 * StagePartition serves every formulation. Stage sampling only needs the CDF and its inverse, and asks
 * for them at the partition's ends: cdf(0) = 0 and cdf(infinity) = 1 for every distribution here, and
 * quantile(0) / quantile(1) are the ends of its support.
 */
import type { Generator } from '../tensor/index.js';
import { normalCdf, normalQuantile } from '../util/normal.js';

export interface NoiseDistribution {
  readonly name: string;
  /** P(sigma' <= sigma), for sigma in [0, infinity]. */
  cdf(sigma: number): number;
  /** The sigma with cdf(sigma) = p, for p in [0, 1] (0 and 1: the ends of the support). */
  quantile(p: number): number;
}

function checkSigma(sigma: number, name: string): void {
  if (!(sigma >= 0)) throw new Error(`${name}: the CDF needs a noise level sigma in [0, infinity], got ${sigma}`);
}

function checkProbability(p: number, name: string): void {
  if (!(p >= 0 && p <= 1)) throw new Error(`${name}: the quantile needs a probability in [0, 1], got ${p}`);
}

/** EDM: ln sigma ~ N(pMean, pStd^2) (pMean -1.2, pStd 1.2 in the paper); support (0, infinity). */
export function logNormalSigma(pMean = -1.2, pStd = 1.2): NoiseDistribution {
  if (!(pStd > 0)) throw new Error(`log-normal P_std must be > 0, got ${pStd}`);
  const name = `lognormal(${pMean}, ${pStd})`;
  return {
    name,
    cdf: (sigma) => {
      checkSigma(sigma, name);
      return sigma === 0 ? 0 : sigma === Infinity ? 1 : normalCdf((Math.log(sigma) - pMean) / pStd);
    },
    quantile: (p) => {
      checkProbability(p, name);
      return Math.exp(pMean + pStd * normalQuantile(p));
    },
  };
}

/**
 * VP (score-SDE / DPM-Solver): t ~ U[tMin, 1], mapped to sigma through the schedule's monotone
 * sigma(t) and its inverse t(sigma) (defined on [0, infinity]); support [sigma(tMin), sigma(1)].
 */
export function uniformTime(tMin: number, sigmaOfT: (t: number) => number, tOfSigma: (sigma: number) => number): NoiseDistribution {
  if (!(tMin > 0 && tMin < 1)) throw new Error(`VP t_min must be in (0, 1), got ${tMin}`);
  const name = `uniform-t(${tMin}, 1)`;
  return {
    name,
    cdf: (sigma) => {
      checkSigma(sigma, name);
      if (sigma === 0) return 0;
      if (sigma === Infinity) return 1;
      const t = tOfSigma(sigma);
      if (Number.isNaN(t)) throw new Error(`${name}: the schedule's time of sigma = ${sigma} is NaN`);
      return Math.min(1, Math.max(0, (t - tMin) / (1 - tMin)));
    },
    quantile: (p) => {
      checkProbability(p, name);
      return sigmaOfT(tMin + p * (1 - tMin));
    },
  };
}

/**
 * LDM's DDPM training: an integer step uniform in 0..N-1, at the noise levels `sigmaOfStep` gives
 * (increasing with the step). A step distribution: the CDF jumps by 1/N at each step's sigma, and the
 * quantile of p in [k/N, (k+1)/N) is step k's sigma (so a stage's CDF interval [a, b) maps into it).
 */
export function uniformStep(steps: number, sigmaOfStep: (step: number) => number): NoiseDistribution {
  if (!(Number.isInteger(steps) && steps >= 1)) throw new Error(`uniform-step needs a positive whole number of steps, got ${steps}`);
  const sigmas = Float64Array.from({ length: steps }, (_, k) => sigmaOfStep(k));
  const name = `uniform-step(0..${steps - 1})`;
  sigmas.forEach((s, k) => {
    if (!(s > 0 && Number.isFinite(s)) || (k > 0 && !(s > sigmas[k - 1]))) throw new Error(`${name}: step ${k} has noise level ${s}; step noise levels must be finite, > 0 and increasing`);
  });
  return {
    name,
    cdf: (sigma) => {
      checkSigma(sigma, name);
      let lo = 0;
      let hi = steps;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sigmas[mid] <= sigma) lo = mid + 1;
        else hi = mid;
      }
      return lo / steps;
    },
    quantile: (p) => {
      checkProbability(p, name);
      return sigmas[Math.min(Math.floor(p * steps), steps - 1)];
    },
  };
}

/** `count` independent noise levels from a distribution, by inverse CDF of the generator's uniforms. */
export function drawSigmas(distribution: NoiseDistribution, count: number, generator: Generator): Float64Array {
  return generator.uniformHost(count).map((u) => distribution.quantile(u));
}
