/**
 * EDM's single-kernel attention (see AttentionParams). Per batch entry, q, k and v are [C, L] matrices
 * read in place from the interleaved qkv [C, 3, L] (row stride 3L), so every step is one gemm:
 * weights = softmax_rows(q^T k / sqrt(C)) [L, L], out = v @ weights^T [C, L].
 * Batch entries are independent: threads (pool.ts) take whole entries, or split each entry's products
 * when there are fewer entries than threads.
 */
import type { AttentionParams } from '../backend.js';
import { type Operand, gemm } from './matmul.js';
import { forEachUnit, parallelTask } from './pool.js';
import { float32Scratch, float64Scratch } from './scratch.js';

const scoreGrads = float32Scratch();
const rowExps = float64Scratch();

/** q, k or v of batch entry b as a stored [C, L] matrix inside qkv (part 0, 1 or 2). */
function part(qkv: Float32Array, b: number, which: 0 | 1 | 2, p: AttentionParams, trans = false): Operand {
  return { data: qkv, offset: (b * p.c * 3 + which) * p.l, ld: 3 * p.l, trans };
}

/** Multiply-adds of either pass (two and four products of C*L*L per entry). */
const work = (p: AttentionParams, products: number): number => products * p.b * p.c * p.l * p.l;

interface Forward {
  qkv: Float32Array;
  out: Float32Array;
  weights: Float32Array;
  p: AttentionParams;
}

export function attention(qkv: Float32Array, out: Float32Array, weights: Float32Array, p: AttentionParams): void {
  forEachUnit(forwardEntry, { qkv, out, weights, p }, p.b, work(p, 2));
}

const forwardEntry = parallelTask('attention', ({ qkv, out, weights, p }: Forward, b: number) => {
  const { c, l } = p;
  const scale = 1 / Math.sqrt(c);
  const exps = rowExps.take(l);
  const wOffset = b * l * l;
  gemm(l, l, c, scale, part(qkv, b, 0, p, true), part(qkv, b, 1, p), 0, { data: weights, offset: wOffset, ld: l });
  for (let row = wOffset; row < wOffset + l * l; row += l) {
    let max = -Infinity;
    for (let j = 0; j < l; j++) max = Math.max(max, weights[row + j]);
    let sum = 0;
    for (let j = 0; j < l; j++) sum += exps[j] = Math.exp(weights[row + j] - max);
    for (let j = 0; j < l; j++) weights[row + j] = exps[j] / sum;
  }
  gemm(c, l, l, 1, part(qkv, b, 2, p), { data: weights, offset: wOffset, ld: l, trans: true }, 0, { data: out, offset: b * c * l, ld: l });
});

interface Backward {
  qkv: Float32Array;
  weights: Float32Array;
  dout: Float32Array;
  dqkv: Float32Array;
  p: AttentionParams;
}

/**
 * dv = dout @ w; dw = dout^T @ v; through the softmax ds = w * (dw - rowsum(w * dw));
 * dq = k @ ds^T / sqrt(C); dk = q @ ds / sqrt(C).
 */
export function attentionBackward(qkv: Float32Array, weights: Float32Array, dout: Float32Array, dqkv: Float32Array, p: AttentionParams): void {
  forEachUnit(backwardEntry, { qkv, weights, dout, dqkv, p }, p.b, work(p, 4));
}

const backwardEntry = parallelTask('attentionBackward', ({ qkv, weights, dout, dqkv, p }: Backward, b: number) => {
  const { c, l } = p;
  const scale = 1 / Math.sqrt(c);
  const ds = scoreGrads.take(l * l);
  const w = { data: weights, offset: b * l * l, ld: l };
  const gradOut = { data: dout, offset: b * c * l, ld: l };
  const dPart = (which: 0 | 1 | 2) => ({ data: dqkv, offset: (b * c * 3 + which) * l, ld: 3 * l });
  gemm(c, l, l, 1, { ...gradOut, trans: false }, { ...w, trans: false }, 0, dPart(2));
  gemm(l, l, c, 1, { ...gradOut, trans: true }, part(qkv, b, 2, p), 0, { data: ds, offset: 0, ld: l });
  for (let row = 0; row < l * l; row += l) {
    let dot = 0;
    for (let j = 0; j < l; j++) dot += weights[w.offset + row + j] * ds[row + j];
    for (let j = 0; j < l; j++) ds[row + j] = weights[w.offset + row + j] * (ds[row + j] - dot);
  }
  gemm(c, l, l, scale, part(qkv, b, 1, p), { data: ds, offset: 0, ld: l, trans: true }, 0, dPart(0));
  gemm(c, l, l, scale, part(qkv, b, 0, p), { data: ds, offset: 0, ld: l, trans: false }, 0, dPart(1));
});
