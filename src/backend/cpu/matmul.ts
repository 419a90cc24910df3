/**
 * Single-precision matrix products (SGEMM) in plain TypeScript.
 *
 * op(A) and op(B) are copied into panels of 4 rows / 4 columns laid out k-major, so the micro-kernel reads
 * both operands contiguously whatever the transposes, and a 4x4 block of C is accumulated in 16 locals
 * over the whole k range. JavaScript arithmetic is float64, so each entry of C is a float64 dot product
 * rounded once to float32. Measured in V8, a 4x4 tile is as fast as 4x8 or 2x8 and simpler at the edges.
 */
import type { MatmulParams } from '../backend.js';
import { float32Scratch } from './scratch.js';

/** A row-major matrix stored inside a flat array: element (r, c) is data[offset + r * ld + c]. */
export interface StridedMatrix {
  data: Float32Array;
  offset: number;
  /** Distance between consecutive stored rows (at least the number of stored columns). */
  ld: number;
}

/** A product operand: the stored matrix, read transposed when `trans` is set. */
export interface Operand extends StridedMatrix {
  trans: boolean;
}

/** Rows of op(A) per A panel and columns of op(B) per B panel; the micro-kernel below is written for 4x4. */
const PANEL = 4;

const packedA = float32Scratch();
const packedB = float32Scratch();
const tile = new Float64Array(PANEL * PANEL);

/** C = alpha * op(A) @ op(B) + beta * C, op(A) m x k, op(B) k x n. With beta = 0, C's old contents (even NaN) are ignored. */
export function gemm(m: number, n: number, k: number, alpha: number, a: Operand, b: Operand, beta: number, c: StridedMatrix): void {
  const pa = packA(a, m, k);
  const pb = packB(b, k, n);
  multiplyPacked(m, n, k, alpha, pa, pb, beta, c);
}

/** The Backend's batched matmul: dense row-major operands; a batch stride of 0 shares (and packs once) that operand. */
export function matmul(a: Float32Array, b: Float32Array, c: Float32Array, p: MatmulParams): void {
  const { m, n, k, transA, transB, alpha, beta } = p;
  let pa: Float32Array | null = null;
  let pb: Float32Array | null = null;
  for (let bt = 0; bt < p.batch; bt++) {
    if (pa === null || p.strideA !== 0) pa = packA({ data: a, offset: bt * p.strideA, ld: transA ? m : k, trans: transA }, m, k);
    if (pb === null || p.strideB !== 0) pb = packB({ data: b, offset: bt * p.strideB, ld: transB ? k : n, trans: transB }, k, n);
    multiplyPacked(m, n, k, alpha, pa, pb, beta, { data: c, offset: bt * p.strideC, ld: n });
  }
}

/** Packs op(A) (m x k) into panels of PANEL rows: panel r holds op(A)[r*PANEL + i][q] at (r*k + q)*PANEL + i. */
function packA(a: Operand, m: number, k: number): Float32Array {
  const out = packedA.take(Math.ceil(m / PANEL) * PANEL * k);
  // Element (i, q) of op(A) sits at offset + i*rowStep + q*kStep in storage.
  const [rowStep, kStep] = a.trans ? [1, a.ld] : [a.ld, 1];
  packPanels(a.data, a.offset, rowStep, kStep, m, k, out);
  return out;
}

/** Packs op(B) (k x n) into panels of PANEL columns: panel s holds op(B)[q][s*PANEL + j] at (s*k + q)*PANEL + j. */
function packB(b: Operand, k: number, n: number): Float32Array {
  const out = packedB.take(Math.ceil(n / PANEL) * PANEL * k);
  // Element (q, j) of op(B) sits at offset + j*colStep + q*kStep in storage.
  const [colStep, kStep] = b.trans ? [b.ld, 1] : [1, b.ld];
  packPanels(b.data, b.offset, colStep, kStep, n, k, out);
  return out;
}

/** Copies `lines` vectors of length k (vector l, element q at src[offset + l*lineStep + q*kStep]) into zero-padded panels. */
function packPanels(src: Float32Array, offset: number, lineStep: number, kStep: number, lines: number, k: number, out: Float32Array): void {
  const padded = Math.ceil(lines / PANEL) * PANEL;
  for (let l = 0; l < padded; l++) {
    let dst = (l - (l % PANEL)) * k + (l % PANEL);
    if (l >= lines) {
      for (let q = 0; q < k; q++, dst += PANEL) out[dst] = 0;
      continue;
    }
    let s = offset + l * lineStep;
    for (let q = 0; q < k; q++, dst += PANEL, s += kStep) out[dst] = src[s];
  }
}

function multiplyPacked(m: number, n: number, k: number, alpha: number, pa: Float32Array, pb: Float32Array, beta: number, c: StridedMatrix): void {
  const { data, offset, ld } = c;
  const panelSize = PANEL * k;
  for (let i0 = 0; i0 < m; i0 += PANEL) {
    const rows = Math.min(PANEL, m - i0);
    const aStart = (i0 / PANEL) * panelSize;
    for (let j0 = 0; j0 < n; j0 += PANEL) {
      microKernel(pa, aStart, pb, (j0 / PANEL) * panelSize, k, tile);
      const cols = Math.min(PANEL, n - j0);
      for (let i = 0; i < rows; i++) {
        const row = offset + (i0 + i) * ld + j0;
        for (let j = 0; j < cols; j++) {
          const v = alpha * tile[i * PANEL + j];
          data[row + j] = beta === 0 ? v : v + beta * data[row + j];
        }
      }
    }
  }
}

/** tile[i*4 + j] = sum over q of A panel row i times B panel column j, in float64 locals. */
function microKernel(pa: Float32Array, aStart: number, pb: Float32Array, bStart: number, k: number, out: Float64Array): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  let ai = aStart;
  let bi = bStart;
  for (let q = 0; q < k; q++, ai += 4, bi += 4) {
    const a0 = pa[ai], a1 = pa[ai + 1], a2 = pa[ai + 2], a3 = pa[ai + 3];
    const b0 = pb[bi], b1 = pb[bi + 1], b2 = pb[bi + 2], b3 = pb[bi + 3];
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
    c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
  }
  out[0] = c00; out[1] = c01; out[2] = c02; out[3] = c03;
  out[4] = c10; out[5] = c11; out[6] = c12; out[7] = c13;
  out[8] = c20; out[9] = c21; out[10] = c22; out[11] = c23;
  out[12] = c30; out[13] = c31; out[14] = c32; out[15] = c33;
}
