/**
 * A formulation's training distribution of noise levels, expressed in EDM's sigma so that one
 * StagePartition serves every formulation. Stage sampling only needs the CDF and its inverse.
 */
import type { Generator } from '../tensor/index.js';
import { normalCdf, normalQuantile } from '../util/normal.js';

export interface NoiseDistribution {
  readonly name: string;
  /** P(sigma' <= sigma). */
  cdf(sigma: number): number;
  /** The sigma with cdf(sigma) = p, p in (0, 1). */
  quantile(p: number): number;
}

/** EDM: ln sigma ~ N(pMean, pStd^2) (pMean -1.2, pStd 1.2 in the paper). */
export function logNormalSigma(pMean = -1.2, pStd = 1.2): NoiseDistribution {
  if (!(pStd > 0)) throw new Error(`log-normal P_std must be > 0, got ${pStd}`);
  return {
    name: `lognormal(${pMean}, ${pStd})`,
    cdf: (sigma) => (sigma <= 0 ? 0 : sigma === Infinity ? 1 : normalCdf((Math.log(sigma) - pMean) / pStd)),
    quantile: (p) => Math.exp(pMean + pStd * normalQuantile(p)),
  };
}

/**
 * VP (score-SDE / DPM-Solver): t ~ U[tMin, 1], mapped to sigma through the schedule's monotone
 * sigma(t) and its inverse t(sigma).
 */
export function uniformTime(tMin: number, sigmaOfT: (t: number) => number, tOfSigma: (sigma: number) => number): NoiseDistribution {
  if (!(tMin > 0 && tMin < 1)) throw new Error(`VP t_min must be in (0, 1), got ${tMin}`);
  return {
    name: `uniform-t(${tMin}, 1)`,
    cdf: (sigma) => {
      if (sigma <= 0) return 0;
      const t = tOfSigma(sigma);
      return Math.min(1, Math.max(0, (t - tMin) / (1 - tMin)));
    },
    quantile: (p) => sigmaOfT(tMin + p * (1 - tMin)),
  };
}

/**
 * LDM's DDPM training: an integer step uniform in 0..N-1, at the noise levels `sigmaOfStep` gives
 * (increasing with the step). A step distribution: the CDF jumps by 1/N at each step's sigma.
 */
export function uniformStep(steps: number, sigmaOfStep: (step: number) => number): NoiseDistribution {
  const sigmas = Float64Array.from({ length: steps }, (_, k) => sigmaOfStep(k));
  return {
    name: `uniform-step(0..${steps - 1})`,
    cdf: (sigma) => {
      let lo = 0;
      let hi = steps;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (sigmas[mid] <= sigma) lo = mid + 1;
        else hi = mid;
      }
      return lo / steps;
    },
    quantile: (p) => sigmas[Math.min(Math.floor(p * steps), steps - 1)],
  };
}

/** `count` independent noise levels from a distribution, by inverse CDF of the generator's uniforms. */
export function drawSigmas(distribution: NoiseDistribution, count: number, generator: Generator): Float64Array {
  return generator.uniformHost(count).map((u) => distribution.quantile(u));
}
