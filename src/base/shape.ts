export type Shape = readonly number[];

export function numel(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function stridesOf(shape: Shape): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: Shape): string {
  return `[${shape.join(', ')}]`;
}

/** NumPy broadcasting of two shapes; throws with both shapes named when they do not broadcast. */
export function broadcastShapes(a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`shapes ${formatShape(a)} and ${formatShape(b)} do not broadcast (dimension ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Strides that read `shape` (right-aligned) as if it had `outShape`: 0 along broadcast dimensions. */
export function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const own = stridesOf(shape);
  const n = outShape.length;
  const out = new Array<number>(n).fill(0);
  for (let i = 0; i < shape.length; i++) {
    const j = n - shape.length + i;
    out[j] = shape[i] === 1 ? 0 : own[i];
  }
  return out;
}

/** Resolves one -1 in a reshape target and checks the element count. */
export function resolveReshape(from: Shape, to: readonly number[]): number[] {
  const total = numel(from);
  const free = to.indexOf(-1);
  if (free >= 0) {
    const known = to.reduce((p, d, i) => (i === free ? p : p * d), 1);
    if (known === 0 || total % known !== 0) throw new Error(`cannot reshape ${formatShape(from)} to ${formatShape(to)}`);
    const out = [...to];
    out[free] = total / known;
    return out;
  }
  if (numel(to) !== total) throw new Error(`cannot reshape ${formatShape(from)} (${total} elements) to ${formatShape(to)}`);
  return [...to];
}

export function normalizeAxis(axis: number, ndim: number): number {
  const a = axis < 0 ? axis + ndim : axis;
  if (a < 0 || a >= ndim) throw new Error(`axis ${axis} out of range for a tensor of ${ndim} dimensions`);
  return a;
}
