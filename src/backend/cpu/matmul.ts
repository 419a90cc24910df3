/**
 * Single-precision matrix products (SGEMM) in plain TypeScript.
 *
 * op(A) is copied into panels of 4 rows and op(B) into panels of 8 columns, laid out k-major, so the
 * micro-kernel reads both contiguously whatever the transposes and accumulates a 4x8 block of C in 32
 * locals over the whole k range. JavaScript arithmetic is float64, so each entry of C is a float64 dot
 * product rounded once to float32. Panels hold float64, so the inner loop converts nothing: of the tiles
 * tried in V8 (4x4, 2x8, 3x8, 4x8, over float32 or float64 panels), 4x8 over float64 was the fastest or
 * close to it on both AMD EPYC and Intel Xeon, at 3 to 4.5 GFLOP/s per core.
 *
 * The micro-kernel runs as WebAssembly SIMD where the runtime has it (Node 20 does): the same 4x8 tile,
 * the same float64 products and sums in the same order (two f64 lanes per instruction, no fused
 * multiply-add), so the results are identical to the bit to the plain TypeScript kernel below, which
 * stays as the fallback. It took a 16x256x144 product from 4.6 to 21 GFLOP/s on one core of a 2-core
 * AMD EPYC. The panels are packed straight into the WebAssembly memory (one per thread).
 *
 * A big product is split over the worker threads (pool.ts) into blocks of whole rows or whole columns of C;
 * each thread packs what its block reads into its own panels. An entry of C is the same dot product in the
 * same order whichever block holds it, so the result does not depend on the number of threads.
 */
import type { MatmulParams } from '../backend.js';
import { chunksFor, parallelFor, parallelTask } from './pool.js';

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

/**
 * Rows of op(A) per A panel and columns of op(B) per B panel: the micro-kernel below is written for 4x8.
 * A caller splitting a product by columns wastes no work on padding if its blocks are whole panels.
 */
const MR = 4;
export const NR = 8;

/**
 * The packed panels and the tile live in one float64 heap, the WebAssembly memory when the SIMD kernel
 * runs: the tile at element 0, then op(A)'s panels at `aBase`, then op(B)'s at `bBase` (see reserve).
 */
const TILE = MR * NR;
const simdAvailable = createSimdKernel();
let simdKernel = simdAvailable;
const memory = simdAvailable?.memory ?? null;
let heap = new Float64Array(memory?.buffer ?? new ArrayBuffer(TILE * 8));
const aBase = TILE;
let bBase = TILE;

/**
 * Whether this thread's products use the WebAssembly kernel (tests compare it with the TypeScript one,
 * bit for bit): turns it on (where the runtime has it) or off, and says whether it is on now.
 */
export function useSimdKernel(enabled: boolean): boolean {
  simdKernel = enabled ? simdAvailable : null;
  return simdKernel !== null;
}

/**
 * Makes room for `aLength` elements of A panels and `bLength` of B panels (start offsets aBase and bBase).
 * Growing the heap discards its contents: reserve before packing either operand.
 */
function reserve(aLength: number, bLength: number): void {
  bBase = aBase + Math.ceil(aLength / NR) * NR;
  const needed = (bBase + bLength) * 8;
  if (heap.byteLength >= needed) return;
  if (memory !== null) {
    memory.grow(Math.ceil((needed - memory.buffer.byteLength) / 65536));
    heap = new Float64Array(memory.buffer);
  } else heap = new Float64Array(Math.max(needed / 8, 2 * heap.length));
}

/** C = alpha * op(A) @ op(B) + beta * C, op(A) m x k, op(B) k x n. With beta = 0, C's old contents (even NaN) are ignored. */
export function gemm(m: number, n: number, k: number, alpha: number, a: Operand, b: Operand, beta: number, c: StridedMatrix): void {
  const chunks = chunksFor(m * n * k);
  if (chunks === 1) {
    multiply(m, n, k, alpha, a, b, beta, c);
    return;
  }
  // Blocks of whole panels along the dimension with more of them, so each block re-packs as little of
  // the other operand as it can.
  const byRows = Math.ceil(m / MR) >= Math.ceil(n / NR);
  const [length, panel] = byRows ? [m, MR] : [n, NR];
  const blockSize = Math.ceil(Math.ceil(length / panel) / chunks) * panel;
  parallelFor(gemmBlocks, { m, n, k, alpha, a, b, beta, c, byRows, blockSize }, Math.ceil(length / blockSize));
}

interface BlockedGemm {
  m: number;
  n: number;
  k: number;
  alpha: number;
  a: Operand;
  b: Operand;
  beta: number;
  c: StridedMatrix;
  /** Blocks are `blockSize` rows of C (and op(A)) if set, else `blockSize` columns of C (and op(B)). */
  byRows: boolean;
  blockSize: number;
}

const gemmBlocks = parallelTask('gemm', (g: BlockedGemm, block: number) => {
  const start = block * g.blockSize;
  if (g.byRows) {
    const rows = Math.min(g.blockSize, g.m - start);
    multiply(rows, g.n, g.k, g.alpha, { ...g.a, offset: g.a.offset + start * (g.a.trans ? 1 : g.a.ld) }, g.b, g.beta, { ...g.c, offset: g.c.offset + start * g.c.ld });
  } else {
    const cols = Math.min(g.blockSize, g.n - start);
    multiply(g.m, cols, g.k, g.alpha, g.a, { ...g.b, offset: g.b.offset + start * (g.b.trans ? g.b.ld : 1) }, g.beta, { ...g.c, offset: g.c.offset + start });
  }
});

/**
 * C = alpha * op(A) @ B + beta * C on this thread, where `packB` writes op(B) (k x n) straight into its
 * panels (the layout of packB below, starting at `offset` of `out`): a convolution packs its column
 * matrix without writing it out first. Same arithmetic as gemm.
 */
export function gemmPackedB(m: number, n: number, k: number, alpha: number, a: Operand, packB: (out: Float64Array, offset: number) => void, beta: number, c: StridedMatrix): void {
  reserve(packedLengthA(m, k), packedLengthB(k, n));
  packA(a, m, k);
  packB(heap, bBase);
  multiplyPacked(m, n, k, alpha, beta, c);
}

/** gemm on this thread. */
function multiply(m: number, n: number, k: number, alpha: number, a: Operand, b: Operand, beta: number, c: StridedMatrix): void {
  reserve(packedLengthA(m, k), packedLengthB(k, n));
  packA(a, m, k);
  packB(b, k, n);
  multiplyPacked(m, n, k, alpha, beta, c);
}

/**
 * The Backend's batched matmul: dense row-major operands; a batch stride of 0 shares (and packs once per
 * run of entries) that operand. One matrix splits inside gemm; a batch splits into runs of entries.
 */
export function matmul(a: Float32Array, b: Float32Array, c: Float32Array, p: MatmulParams): void {
  const { m, n, k, alpha, beta } = p;
  if (p.batch === 1) gemm(m, n, k, alpha, entryOfA(a, p, 0), entryOfB(b, p, 0), beta, entryOfC(c, p, 0));
  else {
    const runLength = Math.ceil(p.batch / chunksFor(p.batch * m * n * k));
    parallelFor(batchRuns, { a, b, c, p, runLength }, Math.ceil(p.batch / runLength));
  }
}

const entryOfA = (a: Float32Array, p: MatmulParams, bt: number): Operand => ({ data: a, offset: bt * p.strideA, ld: p.transA ? p.m : p.k, trans: p.transA });
const entryOfB = (b: Float32Array, p: MatmulParams, bt: number): Operand => ({ data: b, offset: bt * p.strideB, ld: p.transB ? p.k : p.n, trans: p.transB });
const entryOfC = (c: Float32Array, p: MatmulParams, bt: number): StridedMatrix => ({ data: c, offset: bt * p.strideC, ld: p.n });

interface BatchRuns {
  a: Float32Array;
  b: Float32Array;
  c: Float32Array;
  p: MatmulParams;
  /** Batch entries per chunk. */
  runLength: number;
}

const batchRuns = parallelTask('matmul', ({ a, b, c, p, runLength }: BatchRuns, run: number) => {
  const { m, n, k, alpha, beta } = p;
  const first = run * runLength;
  reserve(packedLengthA(m, k), packedLengthB(k, n));
  for (let bt = first; bt < Math.min(p.batch, (run + 1) * runLength); bt++) {
    if (bt === first || p.strideA !== 0) packA(entryOfA(a, p, bt), m, k);
    if (bt === first || p.strideB !== 0) packB(entryOfB(b, p, bt), k, n);
    multiplyPacked(m, n, k, alpha, beta, entryOfC(c, p, bt));
  }
});

const packedLengthA = (m: number, k: number): number => Math.ceil(m / MR) * MR * k;
const packedLengthB = (k: number, n: number): number => Math.ceil(n / NR) * NR * k;

/** Packs op(A) (m x k) into panels of MR rows at aBase: panel r holds op(A)[r*MR + i][q] at (r*k + q)*MR + i. */
function packA(a: Operand, m: number, k: number): void {
  // Element (i, q) of op(A) sits at offset + i*rowStep + q*kStep in storage.
  const [rowStep, kStep] = a.trans ? [1, a.ld] : [a.ld, 1];
  packPanels(a.data, a.offset, rowStep, kStep, m, k, MR, heap, aBase);
}

/** Packs op(B) (k x n) into panels of NR columns at bBase: panel s holds op(B)[q][s*NR + j] at (s*k + q)*NR + j. */
function packB(b: Operand, k: number, n: number): void {
  // Element (q, j) of op(B) sits at offset + j*colStep + q*kStep in storage.
  const [colStep, kStep] = b.trans ? [b.ld, 1] : [1, b.ld];
  packPanels(b.data, b.offset, colStep, kStep, n, k, NR, heap, bBase);
}

/**
 * Copies `lines` vectors of length k (vector l, element q at src[offset + l*lineStep + q*kStep]) into
 * panels of `width` vectors, interleaved element by element and zero-padded to a whole panel.
 */
function packPanels(src: Float32Array, offset: number, lineStep: number, kStep: number, lines: number, k: number, width: number, out: Float64Array, outOffset: number): void {
  const padded = Math.ceil(lines / width) * width;
  for (let l = 0; l < padded; l++) {
    let dst = outOffset + (l - (l % width)) * k + (l % width);
    if (l >= lines) {
      for (let q = 0; q < k; q++, dst += width) out[dst] = 0;
      continue;
    }
    let s = offset + l * lineStep;
    for (let q = 0; q < k; q++, dst += width, s += kStep) out[dst] = src[s];
  }
}

/** C = alpha * A @ B + beta * C from the packed panels at aBase and bBase, tile by tile. */
function multiplyPacked(m: number, n: number, k: number, alpha: number, beta: number, c: StridedMatrix): void {
  const { data, offset, ld } = c;
  const tile = heap;
  for (let i0 = 0; i0 < m; i0 += MR) {
    const rows = Math.min(MR, m - i0);
    for (let j0 = 0; j0 < n; j0 += NR) {
      if (simdKernel !== null) simdKernel.kernel((aBase + i0 * k) * 8, (bBase + j0 * k) * 8, k, 0);
      else microKernel(heap, aBase + i0 * k, heap, bBase + j0 * k, k, tile);
      const cols = Math.min(NR, n - j0);
      for (let i = 0; i < rows; i++) {
        const row = offset + (i0 + i) * ld + j0;
        for (let j = 0; j < cols; j++) {
          const v = alpha * tile[i * NR + j];
          data[row + j] = beta === 0 ? v : v + beta * data[row + j];
        }
      }
    }
  }
}

/** tile[i*8 + j] = sum over q of A panel row i times B panel column j, in float64 locals. */
function microKernel(pa: Float64Array, aStart: number, pb: Float64Array, bStart: number, k: number, out: Float64Array): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  let ai = aStart;
  let bi = bStart;
  for (let q = 0; q < k; q++, ai += 4, bi += 8) {
    const a0 = pa[ai], a1 = pa[ai + 1], a2 = pa[ai + 2], a3 = pa[ai + 3];
    let b = pb[bi];
    c00 += a0 * b; c10 += a1 * b; c20 += a2 * b; c30 += a3 * b;
    b = pb[bi + 1];
    c01 += a0 * b; c11 += a1 * b; c21 += a2 * b; c31 += a3 * b;
    b = pb[bi + 2];
    c02 += a0 * b; c12 += a1 * b; c22 += a2 * b; c32 += a3 * b;
    b = pb[bi + 3];
    c03 += a0 * b; c13 += a1 * b; c23 += a2 * b; c33 += a3 * b;
    b = pb[bi + 4];
    c04 += a0 * b; c14 += a1 * b; c24 += a2 * b; c34 += a3 * b;
    b = pb[bi + 5];
    c05 += a0 * b; c15 += a1 * b; c25 += a2 * b; c35 += a3 * b;
    b = pb[bi + 6];
    c06 += a0 * b; c16 += a1 * b; c26 += a2 * b; c36 += a3 * b;
    b = pb[bi + 7];
    c07 += a0 * b; c17 += a1 * b; c27 += a2 * b; c37 += a3 * b;
  }
  out[0] = c00; out[1] = c01; out[2] = c02; out[3] = c03; out[4] = c04; out[5] = c05; out[6] = c06; out[7] = c07;
  out[8] = c10; out[9] = c11; out[10] = c12; out[11] = c13; out[12] = c14; out[13] = c15; out[14] = c16; out[15] = c17;
  out[16] = c20; out[17] = c21; out[18] = c22; out[19] = c23; out[20] = c24; out[21] = c25; out[22] = c26; out[23] = c27;
  out[24] = c30; out[25] = c31; out[26] = c32; out[27] = c33; out[28] = c34; out[29] = c35; out[30] = c36; out[31] = c37;
}

/** The little of the WebAssembly JavaScript API used here (the project's TypeScript libraries do not declare it). */
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/**
 * The micro-kernel above as a WebAssembly SIMD function kernel(aByte, bByte, k, outByte) over its
 * memory, written out as bytes here (no toolchain needed): the 4x8 tile in two halves of 4x4, each half
 * 8 f64x2 accumulators (rows 0-3, columns 4h..4h+3) that start at zero and take acc + a * b for q = 0..k-1
 * in order, a read with load64_splat and b two columns at a time; then stored row-major into the tile.
 * Null where the runtime has no WebAssembly SIMD.
 */
function createSimdKernel(): { kernel: (aByte: number, bByte: number, k: number, outByte: number) => void; memory: WasmMemory } | null {
  try {
    const bytes = simdKernelModule();
    if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return null;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    return { kernel: instance.exports.kernel as (aByte: number, bByte: number, k: number, outByte: number) => void, memory };
  } catch {
    return null;
  }
}

function simdKernelModule(): Uint8Array {
  const uleb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      out.push(b);
    } while (n !== 0);
    return out;
  };
  const vec = (items: number[][]): number[] => [...uleb(items.length), ...items.flat()];
  const section = (id: number, bytes: number[]): number[] => [id, ...uleb(bytes.length), ...bytes];
  const name = (s: string): number[] => vec([...s].map((ch) => [ch.charCodeAt(0)]));
  const get = (i: number): number[] => [0x20, i];
  const set = (i: number): number[] => [0x21, i];
  const tee = (i: number): number[] => [0x22, i];
  const i32Const = (v: number): number[] => [0x41, ...(v < 64 ? [v] : [0x80 | (v & 0x7f), v >> 7])]; // signed LEB128, 0 <= v < 8192
  const simd = (op: number, ...immediates: number[]): number[] => [0xfd, ...uleb(op), ...immediates];
  const memarg = (offset: number): number[] => [3, ...uleb(offset)]; // alignment hint 8 bytes
  const [V128_LOAD, V128_STORE, V128_CONST, LOAD64_SPLAT, F64X2_ADD, F64X2_MUL] = [0x00, 0x0b, 0x0c, 0x0a, 0xf0, 0xf2];
  const I32_EQZ = 0x45, I32_ADD = 0x6a, I32_SUB = 0x6b, BLOCK = 0x02, LOOP = 0x03, BR_IF = 0x0d, END = 0x0b, VOID = 0x40;
  // Locals: 0 aByte, 1 bByte, 2 k, 3 outByte (parameters); 4 a pointer, 5 b pointer, 6 steps left (i32);
  // 7, 8 the two b vectors, 9 the splatted a, 10.. the accumulators (row r, pair c at 10 + 2r + c) (v128).
  const [AP, BP, Q, B0, B1, A, ACC] = [4, 5, 6, 7, 8, 9, 10];
  const code: number[] = [];
  for (let h = 0; h < 2; h++) {
    for (let i = 0; i < 8; i++) code.push(...simd(V128_CONST, ...new Array<number>(16).fill(0)), ...set(ACC + i));
    code.push(...get(0), ...set(AP), ...get(1), ...set(BP), ...get(2), ...set(Q));
    code.push(BLOCK, VOID, ...get(Q), I32_EQZ, BR_IF, 0, LOOP, VOID);
    code.push(...get(BP), ...simd(V128_LOAD, ...memarg(32 * h)), ...set(B0));
    code.push(...get(BP), ...simd(V128_LOAD, ...memarg(32 * h + 16)), ...set(B1));
    for (let r = 0; r < MR; r++) {
      code.push(...get(AP), ...simd(LOAD64_SPLAT, ...memarg(8 * r)), ...set(A));
      for (let c = 0; c < 2; c++) code.push(...get(ACC + 2 * r + c), ...get(A), ...get(c === 0 ? B0 : B1), ...simd(F64X2_MUL), ...simd(F64X2_ADD), ...set(ACC + 2 * r + c));
    }
    code.push(...get(AP), ...i32Const(8 * MR), I32_ADD, ...set(AP));
    code.push(...get(BP), ...i32Const(8 * NR), I32_ADD, ...set(BP));
    code.push(...get(Q), ...i32Const(1), I32_SUB, ...tee(Q), BR_IF, 0, END, END);
    for (let r = 0; r < MR; r++) for (let c = 0; c < 2; c++) code.push(...get(3), ...get(ACC + 2 * r + c), ...simd(V128_STORE, ...memarg(8 * NR * r + 32 * h + 16 * c)));
  }
  code.push(END);
  const I32 = 0x7f, V128 = 0x7b;
  const body = [...vec([[...uleb(3), I32], [...uleb(11), V128]]), ...code];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, vec([[0x60, ...vec([[I32], [I32], [I32], [I32]]), ...vec([])]])), // type: (i32 x4) -> ()
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 1]])), // import memory, at least 1 page
    ...section(3, vec([[0]])), // function 0 has type 0
    ...section(7, vec([[...name('kernel'), 0x00, 0]])), // export function 0
    ...section(10, vec([[...uleb(body.length), ...body]])),
  ]);
}
