/**
 * Variance-preserving epsilon prediction (score_sde / DPM-Solver, and LDM's DDPM on a discrete schedule): the
 * network sees x_t = alpha_t x0 + sqrt(1 - alpha_t^2) n with its schedule's time label and predicts n; the loss
 * is the per-sample mean of (eps(x_t) - n)^2. As a denoiser it is D(x; sigma) = x - sigma eps(x / sqrt(1 + sigma^2)),
 * with t = t(sigma): the same noisy point, since x_t / alpha_t = x0 + sigma n.
 */
import * as T from '../../tensor/index.js';
import type { Tensor } from '../../tensor/index.js';
import type { NoiseDistribution } from '../noise-distribution.js';
import type { Denoiser, NoiseConditionedNetwork } from '../denoiser.js';
import type { VPSchedule } from '../schedules/vp-schedule.js';
import { type Preconditioning, perSample } from '../../models/preconditioning.js';
import { type Formulation, checkBatch } from './formulation.js';
import { preconditioned } from './preconditioning.js';
import { batchValues, noiseLevels, perSampleValues } from '../../models/noise-levels.js';

export class VPFormulation implements Formulation<NoiseConditionedNetwork> {
  readonly name = 'vp';

  constructor(readonly schedule: VPSchedule) {}

  preconditioning(sigma: number): Preconditioning {
    return { cSkip: 1, cOut: -sigma, cIn: 1 / Math.sqrt(1 + sigma * sigma), cNoise: this.schedule.modelInput(this.schedule.time(sigma)) };
  }

  trainingDistribution(): NoiseDistribution {
    return this.schedule.trainingDistribution();
  }

  loss(net: NoiseConditionedNetwork, x0: Tensor, sigma: Float64Array, noise: Tensor): Tensor {
    checkBatch(x0, sigma, noise);
    // made through perSampleValues: a step captured into a CUDA graph makes them again from each replay's sigma
    const times = perSampleValues(sigma, (s) => this.schedule.time(s));
    const logAlpha = perSampleValues(times, (t) => this.schedule.logAlpha(t));
    const alpha = perSample(perSampleValues(logAlpha, Math.exp), x0.ndim, x0.backend);
    const std = perSample(perSampleValues(logAlpha, (l) => Math.sqrt(-Math.expm1(2 * l))), x0.ndim, x0.backend);
    const xt = T.add(T.mul(x0, alpha), T.mul(noise, std));
    const labels = batchValues(perSampleValues(times, (t) => this.schedule.modelInput(t)), [sigma.length], x0.backend);
    const eps = net(xt, labels, noiseLevels(sigma, x0.backend));
    return T.mean(T.square(T.sub(eps, noise)), x0.shape.slice(1).map((_, i) => i + 1));
  }

  denoiser(net: NoiseConditionedNetwork): Denoiser {
    return preconditioned(net, (sigma) => this.preconditioning(sigma));
  }
}
