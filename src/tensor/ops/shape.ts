/** Shape ops: views, permutations, concatenation and slicing, row gathers and scatters. */
import { formatShape, normalizeAxis, numel, resolveReshape, sameShape } from '../../base/shape.js';
import { RowGradient, record } from '../autograd.js';
import { type Tensor, empty, view, zeros } from '../tensor.js';
import { checkSameBackend } from './checks.js';
import { cast } from './elementwise.js';

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
    // along the first axis the rows are the gradient: the pass writes them into place with the other rows'
    if (ax === 0) return [new RowGradient(g, start, inShape)];
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
