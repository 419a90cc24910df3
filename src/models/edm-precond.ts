import { Module } from '../nn/module.js';
import { reshape } from '../tensor/ops/index.js';
import type { Generator } from '../tensor/random.js';
import { Tensor, zeros } from '../tensor/tensor.js';
import { edmCoefficients, precondition } from './preconditioning.js';
import { noiseLevelValues, perSampleValues } from './noise-levels.js';
import type { NoiseLabelNetwork } from './unet-trunk.js';

export interface EDMPrecondOptions {
  /** Expected standard deviation of the training data. */
  sigmaData?: number;
  /** Supported noise range (samplers clamp to it). */
  sigmaMin?: number;
  sigmaMax?: number;
}

export interface DenoiserInputs {
  /** [N or 1, labelDim]; zeros when omitted for a class-conditional network. */
  classLabels?: Tensor | null;
  augmentLabels?: Tensor | null;
  generator?: Generator;
}

/**
 * EDM's preconditioned denoiser D(x; sigma) = c_skip x + c_out F(c_in x; c_noise), per sample, with EDM's
 * coefficients (`edmCoefficients`). The network is registered as `model`, as in EDM's state dicts.
 */
export class EDMPrecond extends Module {
  readonly sigmaData: number;
  readonly sigmaMin: number;
  readonly sigmaMax: number;

  constructor(readonly model: NoiseLabelNetwork, options: EDMPrecondOptions = {}) {
    super();
    this.sigmaData = options.sigmaData ?? 0.5;
    this.sigmaMin = options.sigmaMin ?? 0;
    this.sigmaMax = options.sigmaMax ?? Infinity;
    if (!(this.sigmaData > 0)) throw new Error(`sigmaData must be > 0, got ${this.sigmaData}`);
    this.registerModule('model', model);
  }

  /** x [N, C, H, W]; sigma: one per sample, or one for the whole batch (a number, an array or a tensor). */
  forward(x: Tensor, sigma: number | ArrayLike<number> | Tensor, inputs: DenoiserInputs = {}): Tensor {
    const n = x.shape[0];
    const given = typeof sigma === 'number' ? [sigma] : sigma instanceof Tensor ? noiseLevelValues(sigma) : sigma;
    if (given.length !== n && given.length !== 1) throw new Error(`EDMPrecond: ${given.length} sigmas for a batch of ${n}`);
    const s = given.length === n ? perSampleValues(given, (v) => v) : new Float64Array(n).fill(given[0]);
    for (const v of s) if (!(v > 0)) throw new Error(`EDMPrecond: sigma must be > 0, got ${v}`);
    const labelDim = this.model.labelDim;
    const classLabels = labelDim === 0 ? null : inputs.classLabels ? reshape(inputs.classLabels, [-1, labelDim]) : zeros([1, labelDim], 'float32', x.backend);
    return precondition(x, s, (v) => edmCoefficients(v, this.sigmaData), (input, noiseLabels) =>
      this.model.forward(input, noiseLabels, { classLabels, augmentLabels: inputs.augmentLabels, sigma: s, generator: inputs.generator }),
    );
  }
}
