import { batchNormEval } from '../tensor/ops/index.js';
import { type Tensor, ones, zeros } from '../tensor/tensor.js';
import { Module } from './module.js';
import type { Parameter } from './parameter.js';

/**
 * torch.nn.BatchNorm2d in eval form only: it normalises with its running statistics (buffers
 * `running_mean`, `running_var`) and never updates them. It serves the evaluation feature networks, which
 * run forward only: a backward pass through it is an error.
 */
export class BatchNorm2d extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  constructor(readonly numFeatures: number, readonly eps = 1e-5) {
    super();
    this.weight = this.registerParameter('weight', ones([numFeatures]));
    this.bias = this.registerParameter('bias', zeros([numFeatures]));
    this.runningMean = this.registerBuffer('running_mean', zeros([numFeatures]));
    this.runningVar = this.registerBuffer('running_var', ones([numFeatures]));
  }

  /** With `relu`, ReLU of the result, in the same kernel. */
  forward(x: Tensor, relu = false): Tensor {
    return batchNormEval(x, this.runningMean, this.runningVar, this.weight, this.bias, this.eps, relu);
  }
}
