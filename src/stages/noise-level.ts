/**
 * The noise levels clustering works on, supplied by the caller: stages/ sits below diffusion/, so it never
 * knows which schedule it is clustering; the caller passes the schedule as a function of time.
 *
 * A noise level is the forward process x_t = scale * x0 + std * eps at time t in [0, 1]. EDM's sigma is
 * std / scale (the noise level after dividing out the scale); the log signal-to-noise ratio is -2 ln sigma.
 * For the VP schedule: scale = alpha_t, std = sqrt(1 - alpha_t^2).
 */
export interface NoiseLevel {
  readonly t: number;
  readonly scale: number;
  readonly std: number;
}

/** A schedule: the noise level at time t, with sigma increasing in t. */
export type NoiseLevelAt = (t: number) => NoiseLevel;

/** EDM's sigma of a level. */
export function sigmaOf(level: NoiseLevel): number {
  return level.std / level.scale;
}

/** ln(scale^2 / std^2), the log signal-to-noise ratio. */
export function logSnrOf(level: NoiseLevel): number {
  return 2 * (Math.log(level.scale) - Math.log(level.std));
}

/** Throws unless the level describes a forward process the optimal denoiser can condition on. */
export function checkNoiseLevel(level: Pick<NoiseLevel, 'scale' | 'std'>): void {
  const { scale, std } = level;
  if (!(scale >= 0 && std >= 0 && Number.isFinite(scale) && Number.isFinite(std)) || (scale === 0 && std === 0)) {
    throw new Error(`a noise level needs finite scale >= 0 and std >= 0, not both zero; got scale ${scale}, std ${std}`);
  }
}

/** `count` times evenly spaced from tMin to tMax inclusive (the official code's grids). */
export function timeGrid(count: number, tMin: number, tMax: number): Float64Array {
  if (!Number.isInteger(count) || count < 2) throw new Error(`a time grid needs at least 2 points, got ${count}`);
  if (!(tMin >= 0 && tMax <= 1 && tMin < tMax)) throw new Error(`a time grid needs 0 <= tMin < tMax <= 1, got [${tMin}, ${tMax}]`);
  return Float64Array.from({ length: count }, (_, i) => tMin + ((tMax - tMin) * i) / (count - 1));
}
