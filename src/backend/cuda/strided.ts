/** Strided operands for the index-computing kernels: dims merged where they step as one. */
/**
 * Merges output dims where every operand steps through them as one (contiguous together), and drops
 * size-1 dims: [N, C, H, W] with a [1, C, 1, 1] operand becomes [N, C, H*W].
 */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): { dims: number[]; strides: number[][] } {
  const dims: number[] = [];
  const out: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, k) => out[k][last] === s[d] * shape[d])) {
      dims[last] *= shape[d];
      strides.forEach((s, k) => (out[k][last] = s[d]));
    } else {
      dims.push(shape[d]);
      strides.forEach((s, k) => out[k].push(s[d]));
    }
  }
  return { dims, strides: out };
}
