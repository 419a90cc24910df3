/** Reductions over axes (sum, mean, max), broadcastTo (the adjoint of sum) and the mean squared error. */
import type { DType } from '../../base/dtype.js';
import { type Shape, normalizeAxis, sameShape } from '../../base/shape.js';
import { record } from '../autograd.js';
import { type Tensor, empty, view, zeros } from '../tensor.js';
import { checkFloat } from './checks.js';
import { add, mulScalar, square, sub } from './elementwise.js';
import { clone, reshape } from './shape.js';

/** Reduces x over `axes` (all when omitted) with the backend's sum or max; also returns the kept-dims shape. */
function reduceAxes(kind: 'sum' | 'max', x: Tensor, axes: readonly number[] | undefined, keepDims: boolean, outDtype: DType = x.dtype): { result: Tensor; kept: number[] } {
  checkFloat(kind, x);
  const ax = new Set((axes ?? x.shape.map((_, i) => i)).map((a) => normalizeAxis(a, x.ndim)));
  const kept = x.shape.map((d, i) => (ax.has(i) ? 1 : d));
  const out = empty(kept, outDtype, x.backend);
  (kind === 'sum' ? x.backend.reduceSum : x.backend.reduceMax).call(x.backend, x.buffer, x.shape, out.buffer, kept);
  if (keepDims) return { result: out, kept };
  const result = view(out, x.shape.filter((_, i) => !ax.has(i)));
  out.dispose();
  return { result, kept };
}

/** Sum over `axes` (all when omitted), in x's dtype unless `dtype` says otherwise (accumulating in float64). */
export function sum(x: Tensor, axes?: readonly number[], keepDims = false, dtype: DType = x.dtype): Tensor {
  const { result, kept } = reduceAxes('sum', x, axes, keepDims, dtype);
  const inShape = x.shape;
  return record(result, 'sum', [x], [], (g) => [broadcastTo(reshape(g, kept), inShape)]);
}

export function mean(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  const s = sum(x, axes, keepDims);
  const count = x.size / Math.max(1, s.size);
  return mulScalar(s, 1 / count);
}

/** Max over axes; no gradient (used for statistics and stable log-sum-exp). */
export function max(x: Tensor, axes?: readonly number[], keepDims = false): Tensor {
  return reduceAxes('max', x, axes, keepDims).result;
}

export function broadcastTo(x: Tensor, shape: Shape): Tensor {
  if (sameShape(x.shape, shape)) return clone(x);
  const out = zeros(shape, x.dtype, x.backend);
  return add(out, x);
}

/** Mean squared error over all elements. */
export function mse(a: Tensor, b: Tensor): Tensor {
  return mean(square(sub(a, b)));
}
