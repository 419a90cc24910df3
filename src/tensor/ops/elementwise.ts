/** Elementwise ops: casts, unary math, scalar affine maps, broadcasting binary ops (and sumTo, their adjoint). */
import type { BinaryOp, UnaryOp } from '../../backend/backend.js';
import { type DType, isFloat } from '../../base/dtype.js';
import { type Shape, broadcastShapes, broadcastStrides, sameShape } from '../../base/shape.js';
import { bindAutogradOps, record } from '../autograd.js';
import { type Tensor, empty, view } from '../tensor.js';
import { checkFloat, checkSameBackend } from './checks.js';

/** The dtype of an op on a and b, as PyTorch promotes: their own if they agree, else float32. */
function promote(a: Tensor, b: Tensor): DType {
  return a.dtype === b.dtype ? a.dtype : 'float32';
}

export function cast(x: Tensor, dtype: DType): Tensor {
  if (x.dtype === dtype) return x;
  const out = empty(x.shape, dtype, x.backend);
  x.backend.cast(x.buffer, x.dtype, out.buffer, dtype, x.size);
  if (!isFloat(dtype)) return out;
  const from = x.dtype;
  return record(out, 'cast', [x], [], (g) => [cast(g, from)]);
}

function unaryOp(op: UnaryOp, x: Tensor): Tensor {
  checkFloat(op, x);
  const out = empty(x.shape, x.dtype, x.backend);
  x.backend.unary(op, x.buffer, out.buffer, x.size);
  return record(out, op, [x], [x], (g, [sx]) => {
    const gx = empty(sx!.shape, sx!.dtype, g.backend);
    g.backend.unaryBackward(op, sx!.buffer, g.buffer, gx.buffer, sx!.size);
    return [gx];
  });
}

export const neg = (x: Tensor): Tensor => unaryOp('neg', x);
export const exp = (x: Tensor): Tensor => unaryOp('exp', x);
export const log = (x: Tensor): Tensor => unaryOp('log', x);
export const sqrt = (x: Tensor): Tensor => unaryOp('sqrt', x);
export const rsqrt = (x: Tensor): Tensor => unaryOp('rsqrt', x);
export const sin = (x: Tensor): Tensor => unaryOp('sin', x);
export const cos = (x: Tensor): Tensor => unaryOp('cos', x);
export const tanh = (x: Tensor): Tensor => unaryOp('tanh', x);
export const sigmoid = (x: Tensor): Tensor => unaryOp('sigmoid', x);
export const silu = (x: Tensor): Tensor => unaryOp('silu', x);
export const square = (x: Tensor): Tensor => unaryOp('square', x);
export const abs = (x: Tensor): Tensor => unaryOp('abs', x);
export const recip = (x: Tensor): Tensor => unaryOp('recip', x);
export const relu = (x: Tensor): Tensor => unaryOp('relu', x);

/** x * scale + shift with scalar scale and shift. */
export function affine(x: Tensor, scale: number, shift = 0): Tensor {
  checkFloat('affine', x);
  const out = empty(x.shape, x.dtype, x.backend);
  x.backend.affine(x.buffer, out.buffer, x.size, scale, shift);
  return record(out, 'affine', [x], [], (g) => [affine(g, scale, 0)]);
}

export const mulScalar = (x: Tensor, s: number): Tensor => affine(x, s, 0);
export const addScalar = (x: Tensor, s: number): Tensor => affine(x, 1, s);

export function powScalar(x: Tensor, exponent: number): Tensor {
  checkFloat('pow', x);
  const out = empty(x.shape, x.dtype, x.backend);
  x.backend.powScalar(x.buffer, out.buffer, x.size, exponent);
  return record(out, 'pow', [x], [x], (g, [sx]) => [mul(g, mulScalar(powScalar(sx!, exponent - 1), exponent))]);
}

/** Sums g (shaped like a broadcast result) back to `shape`. */
export function sumTo(g: Tensor, shape: Shape): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const padded = [...new Array<number>(g.ndim - shape.length).fill(1), ...shape];
  const out = empty(padded, g.dtype, g.backend);
  g.backend.reduceSum(g.buffer, g.shape, out.buffer, padded);
  return padded.length === shape.length ? out : view(out, shape);
}

/**
 * A broadcasting binary op with its gradient; its output has the promoted dtype unless `outDtype` says
 * otherwise.
 */
function binaryOp(op: BinaryOp, a: Tensor, b: Tensor, outDtype: DType = promote(a, b)): Tensor {
  checkSameBackend(a, b);
  checkFloat(op, a, b);
  const shape = broadcastShapes(a.shape, b.shape);
  const out = empty(shape, outDtype, a.backend);
  a.backend.binary(op, { buf: a.buffer, strides: broadcastStrides(a.shape, shape) }, { buf: b.buffer, strides: broadcastStrides(b.shape, shape) }, out.buffer, shape);
  const [needA, needB] = [a.requiresGrad, b.requiresGrad];
  const [shapeA, shapeB] = [a.shape, b.shape];
  switch (op) {
    case 'add':
      return record(out, op, [a, b], [], (g) => [needA ? sumTo(g, shapeA) : null, needB ? sumTo(g, shapeB) : null]);
    case 'sub':
      return record(out, op, [a, b], [], (g) => [needA ? sumTo(g, shapeA) : null, needB ? sumTo(neg(g), shapeB) : null]);
    case 'mul':
      // dA reads b and dB reads a: only the operands the required gradients read are saved.
      return record(out, op, [a, b], [needA ? b : null, needB ? a : null], (g, [sb, sa]) => [
        needA ? sumTo(mul(g, sb!), shapeA) : null,
        needB ? sumTo(mul(g, sa!), shapeB) : null,
      ]);
    case 'div':
      return record(out, op, [a, b], [b, needB ? a : null], (g, [sb, sa]) => [
        needA ? sumTo(div(g, sb!), shapeA) : null,
        needB ? sumTo(neg(div(mul(g, sa!), square(sb!))), shapeB) : null,
      ]);
  }
}

export const add = (a: Tensor, b: Tensor): Tensor => binaryOp('add', a, b);
export const sub = (a: Tensor, b: Tensor): Tensor => binaryOp('sub', a, b);
export const mul = (a: Tensor, b: Tensor): Tensor => binaryOp('mul', a, b);
export const div = (a: Tensor, b: Tensor): Tensor => binaryOp('div', a, b);

// The tape accumulates gradients with add, casts them to each input's dtype and copies them.
bindAutogradOps(add, cast, (t) => {
  const out = empty(t.shape, t.dtype, t.backend);
  t.backend.copyRows(t.buffer, 0, 0, out.buffer, 0, 0, 1, t.size);
  return out;
});
