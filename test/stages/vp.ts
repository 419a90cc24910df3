/**
 * The VP schedule of score-SDE / DPM-Solver (beta linear 0.1 -> 20), written out here so the stages tests do
 * not depend on src/diffusion (which sits above src/stages).
 */
import type { NoiseLevel } from '../../src/stages/index.js';

const BETA_0 = 0.1;
const BETA_1 = 20;

export function vpLevel(t: number): NoiseLevel {
  const logAlpha = -0.25 * t * t * (BETA_1 - BETA_0) - 0.5 * t * BETA_0;
  const scale = Math.exp(logAlpha);
  return { t, scale, std: Math.sqrt(-Math.expm1(2 * logAlpha)) };
}
