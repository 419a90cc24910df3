/**
 * The layers of the evaluation feature networks (pytorch-fid's Inception-v3), which run forward only:
 * these ops have no backward kernels, and a backward pass through one is an error that names it.
 */
import type { BatchNormParams, Pool2dParams, ResizeParams } from '../../backend/backend.js';
import { formatShape } from '../../base/shape.js';
import { record } from '../autograd.js';
import { type Tensor, empty } from '../tensor.js';
import { checkFloat, checkFloat32Params } from './checks.js';
import { mean } from './reductions.js';


/** Records an op whose gradient stagediff does not compute: a backward pass through it throws. */
function recordForwardOnly(out: Tensor, name: string, inputs: readonly Tensor[]): Tensor {
  return record(out, name, inputs, [], () => {
    throw new Error(`${name} is inference only (evaluation's feature networks): it has no backward pass; run it on tensors that do not require grad, or under noGrad`);
  });
}

function pool2d(x: Tensor, mode: 'max' | 'avg', kernel: number, stride: number, pad: number): Tensor {
  const name = `${mode}Pool2d`;
  checkFloat(name, x);
  if (x.ndim !== 4) throw new Error(`${name} needs [N, C, H, W], got ${formatShape(x.shape)}`);
  if (pad * 2 > kernel) throw new Error(`${name}: padding ${pad} is more than half the kernel ${kernel}`);
  const [n, c, h, w] = x.shape;
  const hOut = Math.floor((h + 2 * pad - kernel) / stride) + 1;
  const wOut = Math.floor((w + 2 * pad - kernel) / stride) + 1;
  if (hOut <= 0 || wOut <= 0) throw new Error(`${name}: kernel ${kernel} with padding ${pad} does not fit input ${formatShape(x.shape)}`);
  const p: Pool2dParams = { n, c, h, w, hOut, wOut, mode, kernel, stride, pad };
  const y = empty([n, c, hOut, wOut], x.dtype, x.backend);
  x.backend.pool2d(x.buffer, y.buffer, p);
  return recordForwardOnly(y, name, [x]);
}

/** Max pooling over kernel x kernel windows (padding counts as -infinity). Inference only. */
export const maxPool2d = (x: Tensor, kernel: number, stride = kernel, pad = 0): Tensor => pool2d(x, 'max', kernel, stride, pad);

/** Average pooling over the window's positions inside the image (PyTorch's count_include_pad=False). Inference only. */
export const avgPool2d = (x: Tensor, kernel: number, stride = kernel, pad = 0): Tensor => pool2d(x, 'avg', kernel, stride, pad);

/** The mean over H and W of [N, C, H, W]: [N, C] (adaptive_avg_pool2d(x, 1), flattened). */
export function globalAvgPool(x: Tensor): Tensor {
  if (x.ndim !== 4) throw new Error(`globalAvgPool needs [N, C, H, W], got ${formatShape(x.shape)}`);
  return mean(x, [2, 3]);
}

/**
 * Batch norm in eval form over [N, C, ...]: (x - runningMean) / sqrt(runningVar + eps) * gamma + beta per
 * channel; with `relu`, max(0, that) in the same kernel. Inference only.
 */
export function batchNormEval(x: Tensor, runningMean: Tensor, runningVar: Tensor, gamma: Tensor, beta: Tensor, eps: number, relu = false): Tensor {
  checkFloat('batchNormEval', x);
  const [n, c] = x.shape;
  if (x.ndim < 2) throw new Error(`batchNormEval needs [N, C, ...], got ${formatShape(x.shape)}`);
  for (const t of [runningMean, runningVar, gamma, beta]) {
    if (t.size !== c) throw new Error(`batchNormEval: a statistic or parameter of shape ${formatShape(t.shape)} for ${c} channels`);
  }
  checkFloat32Params('batchNormEval', runningMean, runningVar, gamma, beta);
  const p: BatchNormParams = { n, c, hw: x.size / Math.max(1, n * c), eps, relu };
  const y = empty(x.shape, x.dtype, x.backend);
  x.backend.batchNormEval(x.buffer, runningMean.buffer, runningVar.buffer, gamma.buffer, beta.buffer, y.buffer, p);
  return recordForwardOnly(y, relu ? 'batchNormEval+ReLU' : 'batchNormEval', [x, gamma, beta]);
}

/** Resizes [N, C, H, W] to [N, C, height, width] bilinearly, as interpolate(mode='bilinear', align_corners=False). Inference only. */
export function interpolateBilinear(x: Tensor, height: number, width: number): Tensor {
  checkFloat('interpolateBilinear', x);
  if (x.ndim !== 4) throw new Error(`interpolateBilinear needs [N, C, H, W], got ${formatShape(x.shape)}`);
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1) throw new Error(`interpolateBilinear: output size ${height}x${width} is not positive integers`);
  const [n, c, h, w] = x.shape;
  if (h === 0 || w === 0) throw new Error(`interpolateBilinear: empty input ${formatShape(x.shape)}`);
  const p: ResizeParams = { planes: n * c, h, w, hOut: height, wOut: width };
  const y = empty([n, c, height, width], x.dtype, x.backend);
  x.backend.resizeBilinear(x.buffer, y.buffer, p);
  return recordForwardOnly(y, 'interpolateBilinear', [x]);
}
