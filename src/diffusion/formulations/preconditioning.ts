/**
 * A network of any formulation as a denoiser, through that formulation's preconditioning coefficients (the
 * formula and its coefficients are defined once, in models/preconditioning.ts).
 */
import { type Preconditioning, precondition } from '../../models/preconditioning.js';
import { noiseLevelValues } from '../../models/noise-levels.js';
import type { Denoiser, NoiseConditionedNetwork } from '../denoiser.js';

/**
 * Wraps F into a denoiser. The coefficients are computed on the host in float64 from the sigma tensor's B
 * numbers (noiseLevelValues: no download when the caller made it with noiseLevels): formulas such as VP's
 * t(sigma) = f(ln(1 + sigma^2)) lose most of their digits in float32 at small sigma.
 */
export function preconditioned(net: NoiseConditionedNetwork, coefficients: (sigma: number) => Preconditioning): Denoiser {
  return (x, sigma) => {
    if (sigma.size !== x.shape[0]) throw new Error(`denoiser: ${sigma.size} noise levels for a batch of ${x.shape[0]}`);
    return precondition(x, noiseLevelValues(sigma), coefficients, (input, noiseLabels) => net(input, noiseLabels, sigma));
  };
}
