/**
 * Differentiable operations. Each computes its output through one backend kernel and records how to
 * compute its inputs' gradients (also through backend kernels). Ops are coarse where that is faster and
 * simpler to test: conv2d with bias, group_norm, attention, resampling.
 *
 * A backward reads only what its op saved (record's `saved`, handed back as views) and the shapes and
 * numbers it captured, never its inputs' storage: an input may have been disposed by the time backward runs.
 */
import type { AttentionParams, BatchNormParams, BinaryOp, Conv2dParams, GroupNormParams, Pool2dParams, ResampleParams, ResizeParams, UnaryOp } from '../backend/backend.js';
import type { DType } from '../base/dtype.js';
import { isFloat } from '../base/dtype.js';
import { bindAutogradOps, record } from './autograd.js';
import { autocastDtype, noGrad } from './engine.js';
import { type Shape, broadcastShapes, broadcastStrides, formatShape, normalizeAxis, numel, resolveReshape, sameShape } from '../base/shape.js';
import { Tensor, empty, view, zeros } from './tensor.js';
import type { Generator } from './random.js';

function checkSameBackend(...ts: Tensor[]): void {
  const b = ts[0].backend;
  for (const t of ts) {
    if (t.backend !== b) throw new Error(`tensors on different devices: ${ts.map((x) => x.device).join(', ')}`);
  }
}

/** float32, or a reduced-precision dtype the backend computes in (its autocast dtypes: bf16 activations). */
function checkFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== 'float32' && !t.backend.autocastDtypes?.includes(t.dtype)) {
      throw new Error(`${op} needs float32 tensors${t.backend.autocastDtypes ? ` (or ${t.backend.autocastDtypes.join(', ')})` : ''} on the ${t.backend.name} backend, got ${t.dtype} ${formatShape(t.shape)}`);
    }
  }
}

function checkFloat32Params(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'float32') throw new Error(`${op} needs float32 parameters, got ${t.dtype} ${formatShape(t.shape)}`);
}

/** The dtype of an op on a and b, as PyTorch promotes: their own if they agree, else float32. */
function promote(a: Tensor, b: Tensor): DType {
  return a.dtype === b.dtype ? a.dtype : 'float32';
}

// ---------------------------------------------------------------- shape

export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const target = resolveReshape(x.shape, shape);
  const out = view(x, target);
  const inShape = x.shape;
  return record(out, 'reshape', [x], [], (g) => [view(g, inShape)]);
}

export function flatten(x: Tensor, startAxis = 1): Tensor {
  return reshape(x, [...x.shape.slice(0, startAxis), -1]);
}

export function clone(x: Tensor): Tensor {
  const out = empty(x.shape, x.dtype, x.backend);
  x.backend.copyRows(x.buffer, 0, 0, out.buffer, 0, 0, 1, x.size);
  return record(out, 'clone', [x], [], (g) => [g]);
}

/** Detached copy sharing storage: no gradient flows through it. */
export function detach(x: Tensor): Tensor {
  return view(x, x.shape);
}

export function permute(x: Tensor, perm: readonly number[]): Tensor {
  if (perm.length !== x.ndim || [...perm].sort().some((p, i) => p !== i)) {
    throw new Error(`permute: ${JSON.stringify(perm)} is not a permutation of ${x.ndim} axes`);
  }
  const outShape = perm.map((p) => x.shape[p]);
  const out = empty(outShape, x.dtype, x.backend);
  x.backend.permute(x.buffer, x.shape, perm, out.buffer);
  const inverse = new Array<number>(perm.length);
  perm.forEach((p, i) => (inverse[p] = i));
  return record(out, 'permute', [x], [], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, a = -2, b = -1): Tensor {
  const perm = x.shape.map((_, i) => i);
  const ia = normalizeAxis(a, x.ndim);
  const ib = normalizeAxis(b, x.ndim);
  [perm[ia], perm[ib]] = [perm[ib], perm[ia]];
  return permute(x, perm);
}

/** Concatenates along `axis` (all other dimensions equal). */
export function concat(xs: readonly Tensor[], axis = 0): Tensor {
  if (xs.length === 0) throw new Error('concat of no tensors');
  checkSameBackend(...xs);
  if (xs.some((t) => t.dtype !== xs[0].dtype)) return concat(xs.map((t) => cast(t, 'float32')), axis);
  const ax = normalizeAxis(axis, xs[0].ndim);
  for (const t of xs) {
    if (t.ndim !== xs[0].ndim || t.shape.some((d, i) => i !== ax && d !== xs[0].shape[i])) {
      throw new Error(`concat along axis ${ax}: shapes ${xs.map((t) => formatShape(t.shape)).join(', ')} differ off that axis`);
    }
  }
  const outShape = [...xs[0].shape];
  outShape[ax] = xs.reduce((s, t) => s + t.shape[ax], 0);
  const outer = numel(outShape.slice(0, ax));
  const inner = numel(outShape.slice(ax + 1));
  const out = empty(outShape, xs[0].dtype, xs[0].backend);
  const outRow = outShape[ax] * inner;
  let offset = 0;
  for (const t of xs) {
    const row = t.shape[ax] * inner;
    t.backend.copyRows(t.buffer, 0, row, out.buffer, offset, outRow, outer, row);
    offset += row;
  }
  const sizes = xs.map((t) => t.shape[ax]);
  return record(out, 'concat', xs, [], (g) => split(g, sizes, ax));
}

/** The slice [start, end) of x along `axis`. */
export function narrow(x: Tensor, axis: number, start: number, length: number): Tensor {
  const ax = normalizeAxis(axis, x.ndim);
  if (start < 0 || length < 0 || start + length > x.shape[ax]) {
    throw new Error(`narrow: [${start}, ${start + length}) is outside axis ${ax} of ${formatShape(x.shape)}`);
  }
  const outShape = [...x.shape];
  outShape[ax] = length;
  const outer = numel(x.shape.slice(0, ax));
  const inner = numel(x.shape.slice(ax + 1));
  const out = empty(outShape, x.dtype, x.backend);
  x.backend.copyRows(x.buffer, start * inner, x.shape[ax] * inner, out.buffer, 0, length * inner, outer, length * inner);
  const inShape = x.shape;
  return record(out, 'narrow', [x], [], (g) => {
    const gx = zeros(inShape, g.dtype, g.backend);
    g.backend.copyRows(g.buffer, 0, length * inner, gx.buffer, start * inner, inShape[ax] * inner, outer, length * inner);
    return [gx];
  });
}

export function split(x: Tensor, sizes: readonly number[], axis = 0): Tensor[] {
  const ax = normalizeAxis(axis, x.ndim);
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== x.shape[ax]) throw new Error(`split sizes ${JSON.stringify(sizes)} do not add up to axis ${ax} of ${formatShape(x.shape)}`);
  let start = 0;
  return sizes.map((s) => {
    const part = narrow(x, ax, start, s);
    start += s;
    return part;
  });
}

/** Rows of x (along axis 0) in the order of `index`. */
export function gather(x: Tensor, index: Int32Array): Tensor {
  const rowLength = x.size / x.shape[0];
  for (const i of index) if (i < 0 || i >= x.shape[0]) throw new Error(`gather: index ${i} outside batch of ${x.shape[0]}`);
  const out = empty([index.length, ...x.shape.slice(1)], x.dtype, x.backend);
  x.backend.gatherRows(x.buffer, index, out.buffer, rowLength);
  const inShape = x.shape;
  return record(out, 'gather', [x], [], (g) => {
    // scatter-add accumulates in float32 (an index may repeat)
    const gx = zeros(inShape, 'float32', g.backend);
    g.backend.scatterAddRows(cast(g, 'float32').buffer, index, gx.buffer, rowLength);
    return [gx];
  });
}

/**
 * Assembles a batch of `batchSize` rows from parts: row index[k][i] of the output is row i of parts[k].
 * Every output row must be covered exactly once (as when routing samples to decoders and back).
 */
export function scatterRows(parts: readonly Tensor[], indices: readonly Int32Array[], batchSize: number): Tensor {
  if (parts.length === 0) throw new Error('scatterRows of no parts');
  // assembled by scatter-add, which is float32
  if (parts.some((p) => p.dtype !== 'float32')) return cast(scatterRows(parts.map((p) => cast(p, 'float32')), indices, batchSize), parts[0].dtype);
  const rowShape = parts[0].shape.slice(1);
  const covered = new Uint8Array(batchSize);
  parts.forEach((p, k) => {
    if (!sameShape(p.shape.slice(1), rowShape) || p.shape[0] !== indices[k].length) {
      throw new Error(`scatterRows: part ${k} has shape ${formatShape(p.shape)} for ${indices[k].length} rows of ${formatShape(rowShape)}`);
    }
    for (const i of indices[k]) {
      if (i < 0 || i >= batchSize || covered[i]) throw new Error(`scatterRows: row ${i} is out of range or covered twice`);
      covered[i] = 1;
    }
  });
  if (covered.some((c) => c === 0)) throw new Error('scatterRows: some output rows are not covered');
  const rowLength = numel(rowShape);
  const out = zeros([batchSize, ...rowShape], parts[0].dtype, parts[0].backend);
  parts.forEach((p, k) => {
    if (p.size > 0) p.backend.scatterAddRows(p.buffer, indices[k], out.buffer, rowLength);
  });
  const shapes = parts.map((p) => p.shape);
  return record(out, 'scatterRows', parts, [], (g) =>
    shapes.map((shape, k) => {
      const gp = empty(shape, g.dtype, g.backend);
      if (gp.size > 0) g.backend.gatherRows(g.buffer, indices[k], gp.buffer, rowLength);
      return gp;
    }),
  );
}

// ---------------------------------------------------------------- elementwise

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
 * otherwise. The backend's max and min have no gradient and no op here uses them.
 */
function binaryOp(op: Exclude<BinaryOp, 'max' | 'min'>, a: Tensor, b: Tensor, outDtype: DType = promote(a, b)): Tensor {
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

// ---------------------------------------------------------------- reductions

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

// ---------------------------------------------------------------- dense

/**
 * Matrix product of the last two axes; a leading batch axis on either side broadcasts. Under autocast the
 * operands are cast to its dtype inside the op and the product is in that dtype (fp32 accumulation), as
 * PyTorch's autocast does; the gradients come back in each operand's own dtype.
 */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  checkSameBackend(a, b);
  checkFloat('matmul', a, b);
  const dtype = autocastDtype(a.backend) ?? 'float32';
  const [ac, bc] = noGrad(() => [cast(a, dtype), cast(b, dtype)]);
  const out = product(ac, bc, transA, transB);
  const [shapeA, shapeB] = [a.shape, b.shape];
  record(out, 'matmul', [a, b], [a.requiresGrad ? bc : null, b.requiresGrad ? ac : null], (g, [sb, sa]) => {
    // dA = g @ op(B)^T (in A's own orientation), dB likewise; batch-broadcast operands sum over the batch.
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (sb) {
      const full = transA ? product(sb, g, transB, true) : product(g, sb, false, !transB);
      ga = shapeA.length === 2 && full.ndim === 3 ? sum(full, [0]) : full;
      if (shapeA.length === 3 && shapeA[0] === 1) ga = sumTo(ga, shapeA);
    }
    if (sa) {
      const full = transB ? product(g, sa, true, transA) : product(sa, g, !transA, false);
      gb = shapeB.length === 2 && full.ndim === 3 ? sum(full, [0]) : full;
      if (shapeB.length === 3 && shapeB[0] === 1) gb = sumTo(gb, shapeB);
    }
    return [ga, gb];
  });
  // The reduced-precision copies live on only where the node saved them.
  for (const t of [ac, bc]) if (t !== a && t !== b) t.dispose();
  return out;
}

/** The product of two operands of one dtype (float32 or an autocast dtype), in that dtype, not recorded. */
function product(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  if (a.dtype !== b.dtype) throw new Error(`matmul of ${a.dtype} and ${b.dtype} operands`);
  if (a.ndim < 2 || b.ndim < 2 || a.ndim > 3 || b.ndim > 3) throw new Error(`matmul needs 2-D or 3-D tensors, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const kb = transB ? bc : br;
  const n = transB ? br : bc;
  if (k !== kb) throw new Error(`matmul: inner dimensions differ: ${formatShape(a.shape)}${transA ? 'ᵀ' : ''} @ ${formatShape(b.shape)}${transB ? 'ᵀ' : ''}`);
  const batchA = a.ndim === 3 ? a.shape[0] : 1;
  const batchB = b.ndim === 3 ? b.shape[0] : 1;
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) throw new Error(`matmul: batch sizes ${batchA} and ${batchB} differ`);
  const batch = Math.max(batchA, batchB);
  const outShape = a.ndim === 3 || b.ndim === 3 ? [batch, m, n] : [m, n];
  const out = empty(outShape, a.dtype, a.backend);
  a.backend.matmul(a.buffer, b.buffer, out.buffer, {
    batch, m, n, k, transA, transB, alpha: 1, beta: 0,
    strideA: batchA === 1 ? 0 : ar * ac, strideB: batchB === 1 ? 0 : br * bc, strideC: m * n,
  });
  return out;
}

/** y = x @ W^T + b with PyTorch's Linear layout (W: [out, in]). */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  if (x.ndim !== 2 || weight.ndim !== 2 || x.shape[1] !== weight.shape[1]) {
    throw new Error(`linear: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)} (expected [N, ${weight.shape[1]}])`);
  }
  const y = matmul(x, weight, false, true);
  // Under autocast the bias joins the product's dtype (as PyTorch's addmm), so a bf16 activation stays bf16.
  return bias ? add(y, cast(bias, y.dtype)) : y;
}

export interface Conv2dOptions {
  /** Zero padding on every side, or [rows, columns] of it: a 1x7 kernel keeps the size with [0, 3]. */
  pad?: number | readonly [number, number];
  stride?: number;
}

/**
 * 2-D convolution, NCHW, weight [out, in, kh, kw]. Under autocast x, the weight and the bias are cast to
 * its dtype for the backend (cuDNN accumulates in fp32) and the output stays in it: activations flow in
 * bfloat16 from one convolution to the next, as under PyTorch's autocast. Gradients come back in each
 * input's dtype (the weight's and bias's float32).
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions = {}): Tensor {
  checkSameBackend(x, weight);
  checkFloat('conv2d', x, weight);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0])) throw new Error(`conv2d: bias ${formatShape(bias.shape)} does not match ${weight.shape[0]} output channels`);
  const [padH, padW] = typeof options.pad === 'object' ? options.pad : [options.pad ?? 0, options.pad ?? 0];
  const stride = options.stride ?? 1;
  if (x.ndim !== 4 || weight.ndim !== 4 || x.shape[1] !== weight.shape[1]) {
    throw new Error(`conv2d: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)} (expected [N, ${weight.shape[1]}, H, W])`);
  }
  const [n, cIn, h, w] = x.shape;
  const [cOut, , kh, kw] = weight.shape;
  const hOut = Math.floor((h + 2 * padH - kh) / stride) + 1;
  const wOut = Math.floor((w + 2 * padW - kw) / stride) + 1;
  if (hOut <= 0 || wOut <= 0) throw new Error(`conv2d: kernel ${kh}x${kw} with padding (${padH}, ${padW}) does not fit input ${formatShape(x.shape)}`);
  const p: Conv2dParams = { n, cIn, h, w, cOut, kh, kw, padH, padW, stride, hOut, wOut };
  // One op with the casts inside (not cast ops around a bf16 conv): the bias is added by cuDNN in place and
  // its gradient is the float32 sum of the incoming gradient; the backward hands dx and dw back in the
  // compute dtype and the tape casts them to x's and the weight's. In float32, casts return their input.
  const dtype = autocastDtype(x.backend) ?? 'float32';
  const [xc, wc, bc] = noGrad(() => [cast(x, dtype), cast(weight, dtype), bias && cast(bias, dtype)]);
  const y = empty([n, cOut, hOut, wOut], dtype, x.backend);
  x.backend.conv2d(xc.buffer, wc.buffer, bc ? bc.buffer : null, y.buffer, p);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const hasBias = bias !== null;
  const needBias = bias?.requiresGrad ?? false;
  // dx reads the weight and dw reads x.
  record(y, 'conv2d', inputs, [x.requiresGrad ? wc : null, weight.requiresGrad ? xc : null], (g, [sw, sx]) => {
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    if (sw) {
      gx = empty([n, cIn, h, w], dtype, g.backend);
      g.backend.conv2dBackwardData(g.buffer, sw.buffer, gx.buffer, p);
    }
    if (sx) {
      gw = empty([cOut, cIn, kh, kw], dtype, g.backend);
      g.backend.conv2dBackwardFilter(sx.buffer, g.buffer, gw.buffer, p);
    }
    const gb = needBias ? reshape(sum(g, [0, 2, 3], true, 'float32'), [cOut]) : null;
    return hasBias ? [gx, gw, gb] : [gx, gw];
  });
  // The reduced-precision copies live on only where the node saved them.
  for (const t of [xc, wc, bc]) if (t && t !== x && t !== weight && t !== bias) t.dispose();
  return y;
}

/**
 * GroupNorm over [N, C, ...] with per-channel affine gamma, beta, in x's dtype (statistics in float32);
 * with `silu`, SiLU of it in the same kernel (what every U-Net block does after a norm).
 */
export function groupNorm(x: Tensor, gamma: Tensor, beta: Tensor, groups: number, eps: number, silu = false): Tensor {
  checkFloat('groupNorm', x, gamma, beta);
  const [n, c] = x.shape;
  if (x.ndim < 2 || c % groups !== 0) throw new Error(`groupNorm: ${c} channels of ${formatShape(x.shape)} do not split into ${groups} groups`);
  if (gamma.size !== c || beta.size !== c) throw new Error(`groupNorm: gamma/beta have ${gamma.size}/${beta.size} elements for ${c} channels`);
  checkFloat32Params('groupNorm', gamma, beta);
  const p: GroupNormParams = { n, c, hw: x.size / (n * c), groups, eps, silu };
  const y = empty(x.shape, x.dtype, x.backend);
  const meanT = empty([n, groups], 'float32', x.backend);
  const rstdT = empty([n, groups], 'float32', x.backend);
  x.backend.groupNorm(x.buffer, gamma.buffer, beta.buffer, y.buffer, meanT.buffer, rstdT.buffer, p);
  record(y, silu ? 'groupNormSilu' : 'groupNorm', [x, gamma, beta], [x, gamma, silu ? beta : null, meanT, rstdT], (g, [sx, sg, sb, sm, sr]) => {
    const gx = empty(sx!.shape, sx!.dtype, g.backend);
    const gg = empty(sg!.shape, 'float32', g.backend);
    const gbt = empty(sg!.shape, 'float32', g.backend);
    // beta is read only with SiLU; without, any float32 buffer of the right size stands in
    g.backend.groupNormBackward(sx!.buffer, sg!.buffer, (sb ?? sg)!.buffer, sm!.buffer, sr!.buffer, g.buffer, gx.buffer, gg.buffer, gbt.buffer, p);
    return [gx, gg, gbt];
  });
  // The statistics live on only in the node (if one was recorded).
  meanT.dispose();
  rstdT.dispose();
  return y;
}

/**
 * EDM's self-attention core: qkv [B, C*3, H, W] from the 1x1 qkv conv, `heads` heads; returns [B, C, H, W].
 */
export function attention(qkv: Tensor, heads: number): Tensor {
  // Scores and softmax in float32 whatever the activations' dtype, as EDM's AttentionOp does.
  if (qkv.dtype !== 'float32') return attention(cast(qkv, 'float32'), heads);
  const [bsz, c3, h, w] = qkv.shape;
  if (qkv.ndim !== 4 || c3 % (3 * heads) !== 0) throw new Error(`attention: qkv ${formatShape(qkv.shape)} is not [B, 3*C, H, W] with C divisible by ${heads} heads`);
  const c = c3 / 3;
  const p: AttentionParams = { b: bsz * heads, c: c / heads, l: h * w };
  const out = empty([bsz, c, h, w], 'float32', qkv.backend);
  const weights = empty([p.b, p.l, p.l], 'float32', qkv.backend);
  qkv.backend.attention(qkv.buffer, out.buffer, weights.buffer, p);
  record(out, 'attention', [qkv], [qkv, weights], (g, [sq, sw]) => {
    const gq = empty(sq!.shape, 'float32', g.backend);
    g.backend.attentionBackward(sq!.buffer, sw!.buffer, g.buffer, gq.buffer, p);
    return [gq];
  });
  // [B*heads, L, L]: freed now unless the node saved it.
  weights.dispose();
  return out;
}

/** EDM's depthwise FIR up/down-sampling by 2 (see ResampleParams). */
export function resample(x: Tensor, mode: 'up' | 'down', taps: readonly number[], pad: number): Tensor {
  checkFloat('resample', x);
  if (x.ndim !== 4) throw new Error(`resample needs [N, C, H, W], got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape;
  const k = taps.length;
  const hOut = mode === 'up' ? (h - 1) * 2 - 2 * pad + k : Math.floor((h + 2 * pad - k) / 2) + 1;
  const wOut = mode === 'up' ? (w - 1) * 2 - 2 * pad + k : Math.floor((w + 2 * pad - k) / 2) + 1;
  const p: ResampleParams = { n, c, h, w, hOut, wOut, mode, taps, pad };
  const y = empty([n, c, hOut, wOut], x.dtype, x.backend);
  x.backend.resample(x.buffer, y.buffer, p);
  return record(y, 'resample', [x], [], (g) => {
    const gx = empty([n, c, h, w], g.dtype, g.backend);
    g.backend.resampleBackward(g.buffer, gx.buffer, p);
    return [gx];
  });
}

// ---------------------------------------------------------------- inference only
// The layers of the evaluation feature networks (pytorch-fid's Inception-v3), which run forward only:
// these ops have no backward kernels, and a backward pass through one is an error that names it.

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

/**
 * Inverted dropout: zeroes where the generator's uniform is below p and scales the rest by 1/(1-p). The
 * mask is not stored: backward draws it again from the same stream position.
 */
export function dropout(x: Tensor, p: number, generator: Generator): Tensor {
  if (p <= 0) return x;
  if (p >= 1) throw new Error(`dropout probability must be below 1, got ${p}`);
  checkFloat('dropout', x);
  const { key, counter } = generator.take(x.size);
  const y = empty(x.shape, x.dtype, x.backend);
  x.backend.dropout(x.buffer, y.buffer, x.size, p, key, counter);
  return record(y, 'dropout', [x], [], (g) => {
    const gx = empty(g.shape, g.dtype, g.backend);
    g.backend.dropout(g.buffer, gx.buffer, g.size, p, key, counter);
    return [gx];
  });
}

/** Outer product of two vectors: out[i, j] = a[i] * b[j]. */
export function outer(a: Tensor, b: Tensor): Tensor {
  return mul(reshape(a, [a.size, 1]), reshape(b, [1, b.size]));
}

bindAutogradOps(add, cast, (t) => {
  const out = empty(t.shape, t.dtype, t.backend);
  t.backend.copyRows(t.buffer, 0, 0, out.buffer, 0, 0, 1, t.size);
  return out;
});
