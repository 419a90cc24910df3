/**
 * The paper's similarity D of two denoiser outputs: the fraction of coordinates on which they differ by
 * less than eta. Strictly less, as the official code compares (`abs(a - b) < eta`); the paper writes <=,
 * which differs only on exact ties.
 */

/** The official code's threshold: 2/255 on pixels in [0, 1] (two 8-bit levels). */
export const DEFAULT_ETA = 2 / 255;

/** Fraction of i in [0, length) with |a[aOffset + i] - b[bOffset + i]| < eta. */
export function agreement(a: ArrayLike<number>, aOffset: number, b: ArrayLike<number>, bOffset: number, length: number, eta: number): number {
  let close = 0;
  for (let i = 0; i < length; i++) if (Math.abs(a[aOffset + i] - b[bOffset + i]) < eta) close++;
  return close / length;
}

export function checkEta(eta: number): void {
  if (!(eta > 0) || !Number.isFinite(eta)) throw new Error(`the similarity threshold eta must be a finite number > 0, got ${eta}`);
}
