import { tidy } from '../tensor/engine.js';
import { linear } from '../tensor/ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { type InitSource, type WeightInit, weightInit } from './init.js';
import { Module } from './module.js';
import type { Parameter } from './parameter.js';

export interface LinearOptions {
  bias?: boolean;
  init?: WeightInit;
}

/** y = x W^T + b, PyTorch's layout (weight [out, in]); EDM's Linear with its weight_init. */
export class Linear extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, options: LinearOptions, source: InitSource) {
    super();
    const { mode = 'kaiming_normal', weight = 1, bias = 0 } = options.init ?? {};
    this.weight = this.registerParameter('weight', weightInit([outFeatures, inFeatures], mode, inFeatures, outFeatures, weight, source));
    this.bias = (options.bias ?? true) ? this.registerParameter('bias', weightInit([outFeatures], mode, inFeatures, outFeatures, bias, source)) : null;
  }

  /** The product before the bias is freed as it returns (the bias add saves nothing for backward). */
  forward(x: Tensor): Tensor {
    return tidy(() => linear(x, this.weight, this.bias));
  }
}
