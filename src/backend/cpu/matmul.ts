/**
 * Single-precision matrix products (SGEMM) in plain TypeScript.
 *
 * op(A) is copied into panels of 4 rows and op(B) into panels of 8 columns, laid out k-major, so the
 * micro-kernel reads both contiguously whatever the transposes and accumulates a 4x8 block of C over the
 * whole k range. Each entry of C is a float32 dot product, as in PyTorch's and cuDNN's fp32 kernels: each
 * product rounded to float32 and added in order q = 0..k-1 to a float32 sum (no fused multiply-add), then
 * alpha and beta applied in float64 and rounded once.
 *
 * The micro-kernel runs as WebAssembly SIMD where the runtime has it (Node 20 does): four float32 lanes
 * per instruction, the same products and sums in the same order as the plain TypeScript kernel below
 * (Math.fround after each operation), which stays as the fallback, so the two are identical to the bit.
 * float32 lanes do twice the work of the float64 lanes this kernel had before (a float64 sum rounded
 * once): a 3x3 convolution of 16 images, 16 -> 16 channels at 16x16, went from 7.3 to 10.8 GMAC/s on one
 * core of a 2-core Intel Xeon. The panels are packed straight into the WebAssembly memory (one per thread).
 *
 * A big product is split over the worker threads (pool.ts) into blocks of whole rows or whole columns of C;
 * each thread packs what its block reads into its own panels. An entry of C is the same dot product in the
 * same order whichever block holds it, so the result does not depend on the number of threads.
 */
import type { MatmulParams } from '../backend.js';
import { chunksFor, parallelFor, parallelTask } from './pool.js';
import { MR, NR, type SimdKernels, createSimdKernel } from './simd-kernel.js';
import { simdBinaryRows } from './simd-binary.js';

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
export { NR };

/**
 * The packed panels and the tile live in one float32 heap, the WebAssembly memory when the SIMD kernel
 * runs: the tile at element 0, then op(A)'s panels at `aBase`, then op(B)'s at `bBase` (see reserve).
 */
const TILE = MR * NR;
const simdAvailable = createSimdKernel();
let simdKernel = simdAvailable;
const memory = simdAvailable?.memory ?? null;
let heap = new Float32Array(memory?.buffer ?? new ArrayBuffer(TILE * 4));
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
  const needed = (bBase + bLength) * 4;
  if (heap.byteLength >= needed) return;
  if (memory !== null) {
    memory.grow(Math.ceil((needed - memory.buffer.byteLength) / 65536));
    heap = new Float32Array(memory.buffer);
  } else heap = new Float32Array(Math.max(needed / 4, 2 * heap.length));
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
export function gemmPackedB(m: number, n: number, k: number, alpha: number, a: Operand, packB: (out: Float32Array, offset: number) => void, beta: number, c: StridedMatrix): void {
  reserve(packedLengthA(m, k), packedLengthB(k, n) + multiplyWorkLength(k, n));
  packA(a, m, k);
  packB(heap, bBase);
  multiplyPacked(m, n, k, alpha, beta, c);
}

/** gemm on this thread. */
function multiply(m: number, n: number, k: number, alpha: number, a: Operand, b: Operand, beta: number, c: StridedMatrix): void {
  reserve(packedLengthA(m, k), packedLengthB(k, n) + Math.max(bStagingLength(k, n), multiplyWorkLength(k, n)));
  packA(a, m, k);
  packWholeB(b, k, n);
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
  reserve(packedLengthA(m, k), packedLengthB(k, n) + Math.max(bStagingLength(k, n), multiplyWorkLength(k, n)));
  for (let bt = first; bt < Math.min(p.batch, (run + 1) * runLength); bt++) {
    if (bt === first || p.strideA !== 0) packA(entryOfA(a, p, bt), m, k);
    if (bt === first || p.strideB !== 0) packWholeB(entryOfB(b, p, bt), k, n);
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

/**
 * Packs op(B) (k x n) into panels of NR columns at bBase: panel s holds op(B)[q][s*NR + j] at (s*k + q)*NR + j.
 * Or, given panelK and firstQ, op(B) is rows [firstQ, firstQ + k) of a panelK x n matrix packed in pieces.
 */
function packB(b: Operand, k: number, n: number, panelK = k, firstQ = 0): void {
  // Element (q, j) of op(B) sits at offset + j*colStep + q*kStep in storage.
  const [colStep, kStep] = b.trans ? [b.ld, 1] : [1, b.ld];
  packPanels(b.data, b.offset, colStep, kStep, n, k, NR, heap, bBase + firstQ * NR, panelK);
}

/** Heap elements packWholeB stages B in, after B's panels. */
const bStagingLength = (k: number, n: number): number => Math.ceil((k * n) / 4) * 4;

/**
 * packB of a whole op(B) (from bBase), through the SIMD module where B is dense, row-major and whole
 * panels wide: copied into the heap after its panels (bStagingLength elements, reserved by the caller),
 * then each panel's k rows of NR floats moved into place four floats at a time; element by element
 * (packB) this was 5% of a quickstart training step.
 */
function packWholeB(b: Operand, k: number, n: number): void {
  if (simdKernel === null || b.trans || b.ld !== n || n % NR !== 0 || k === 0 || n === 0) {
    packB(b, k, n);
    return;
  }
  const stageAt = bBase + packedLengthB(k, n);
  heap.set(b.data.subarray(b.offset, b.offset + k * n), stageAt);
  simdKernel.moveRows(stageAt * 4, bBase * 4, n / NR, k, NR / 4, n * 4, NR * 4 - k * n * 4, NR * 4, 0);
}

/**
 * Copies `lines` vectors of length k (vector l, element q at src[offset + l*lineStep + q*kStep]) into
 * panels of `width` vectors, interleaved element by element and zero-padded to a whole panel; panels
 * panelK elements long (more than k where a caller fills a panel in pieces).
 */
function packPanels(src: Float32Array, offset: number, lineStep: number, kStep: number, lines: number, k: number, width: number, out: Float32Array, outOffset: number, panelK = k): void {
  const padded = Math.ceil(lines / width) * width;
  for (let l = 0; l < padded; l++) {
    let dst = outOffset + (l - (l % width)) * panelK + (l % width);
    if (l >= lines) {
      for (let q = 0; q < k; q++, dst += width) out[dst] = 0;
      continue;
    }
    let s = offset + l * lineStep;
    for (let q = 0; q < k; q++, dst += width, s += kStep) out[dst] = src[s];
  }
}

/** Heap elements multiplyPacked works in after B's panels: the panels' row and start offsets, a row of tiles' results. */
const multiplyWorkLength = (k: number, n: number): number => Math.ceil(k / 4) * 4 + Math.ceil(n / NR) * (1 + MR * NR) + 4;

/**
 * C = alpha * A @ B + beta * C from the packed panels at aBase and bBase, reserved with multiplyWorkLength
 * elements after B's panels. With the SIMD kernel, one call per row of tiles (gatherKernel reading the
 * packed panels through offsets) and C's rows copied out whole: a call and a store loop per 4x8 tile were
 * 6% of a quickstart step. The same products and sums, so the same bits.
 */
function multiplyPacked(m: number, n: number, k: number, alpha: number, beta: number, c: StridedMatrix): void {
  if (simdKernel === null) {
    for (let i0 = 0; i0 < m; i0 += MR) {
      for (let j0 = 0; j0 < n; j0 += NR) {
        microKernel(heap, aBase + i0 * k, heap, bBase + j0 * k, k, heap);
        storeTile(m, n, i0, j0, alpha, beta, c);
      }
    }
    return;
  }
  const tiles = Math.ceil(n / NR);
  const gridLength = tiles * NR;
  const offsetsAt = bBase + packedLengthB(k, n);
  const startsAt = offsetsAt + writeOffsets(offsetsAt, k, (q) => q * NR);
  const resultsAt = startsAt + writeOffsets(startsAt, tiles, (t) => t * k * NR);
  const { data, offset, ld } = c;
  for (let i0 = 0; i0 < m; i0 += MR) {
    simdKernel.gatherKernel((aBase + i0 * k) * 4, bBase * 4, offsetsAt * 4, k, resultsAt * 4, gridLength * 4, startsAt * 4, tiles);
    for (let i = 0; i < Math.min(MR, m - i0); i++) {
      const from = resultsAt + i * gridLength;
      const to = offset + (i0 + i) * ld;
      // (as storeTile: alpha times the result, plus beta times C unless beta is 0)
      if (alpha === 1 && beta === 0) data.set(heap.subarray(from, from + n), to);
      else for (let j = 0; j < n; j++) data[to + j] = beta === 0 ? alpha * heap[from + j] : alpha * heap[from + j] + beta * data[to + j];
    }
  }
}

/** C's block at (i0, j0) (cut to m x n) = alpha * the tile + beta * C; C stored transposed if asked. */
function storeTile(m: number, n: number, i0: number, j0: number, alpha: number, beta: number, c: StridedMatrix, transposed = false): void {
  const { data, offset, ld } = c;
  const rows = Math.min(MR, m - i0);
  const cols = Math.min(NR, n - j0);
  const [rowStep, colStep] = transposed ? [1, ld] : [ld, 1];
  for (let i = 0; i < rows; i++) {
    for (let j = 0, at = offset + (i0 + i) * rowStep + j0 * colStep; j < cols; j++, at += colStep) {
      const v = alpha * heap[i * NR + j];
      data[at] = beta === 0 ? v : v + beta * data[at];
    }
  }
}

/**
 * A convolution's column matrix read in place from its zero-padded image: entry (tap q, position j) is
 * element tapOffset(q) + positionOffset(j) of the padded image, `planes` planes of h x w at data[offset..]
 * with padH zero rows and padW zero columns on each side.
 */
export interface ImageOperand {
  data: Float32Array;
  offset: number;
  planes: number;
  h: number;
  w: number;
  padH: number;
  padW: number;
  tapOffset(q: number): number;
  positionOffset(j: number): number;
}

/** Elements of an image operand's padded image. */
const paddedLength = (im: ImageOperand): number => im.planes * (im.h + 2 * im.padH) * (im.w + 2 * im.padW);
/** Elements of heap an image's writeImage stages it in. */
const imageStagingLength = (im: ImageOperand): number => Math.ceil((im.planes * im.h * im.w) / 4) * 4;

/**
 * Writes the padded image at element `at` of the heap; where `zeroed`, its padding already holds zeros
 * (an earlier image of the same shape was written there) and only the inside is written. With rows of a
 * multiple of 4 floats, the image is copied whole to `stageAt` and spread into place four floats at a
 * time by the SIMD module (element by element in TypeScript a 16x16 image of 16 channels took 7.5 us).
 */
function writeImage(im: ImageOperand, at: number, stageAt: number, zeroed: boolean): void {
  const { data, offset, planes, h, w, padH, padW } = im;
  const paddedW = w + 2 * padW;
  if (simdKernel !== null && w % 4 === 0 && planes * h * w > 0) {
    if (!zeroed) heap.fill(0, at, at + paddedLength(im));
    heap.set(data.subarray(offset, offset + planes * h * w), stageAt);
    simdKernel.moveRows(stageAt * 4, (at + padH * paddedW + padW) * 4, planes, h, w / 4, w * 4, 0, paddedW * 4, 2 * padH * paddedW * 4);
    return;
  }
  let d = at;
  for (let plane = 0; plane < planes; plane++) {
    for (let yy = 0; yy < h + 2 * padH; yy++) {
      const y = yy - padH;
      if (y < 0 || y >= h) {
        for (let xx = 0; xx < paddedW; xx++) heap[d++] = 0;
        continue;
      }
      for (let xx = 0; xx < padW; xx++) heap[d++] = 0;
      for (let s = offset + (plane * h + y) * w, end = s + w; s < end; s++) heap[d++] = data[s];
      for (let xx = 0; xx < padW; xx++) heap[d++] = 0;
    }
  }
}

/**
 * Where a gathered product's output positions are (gemmGatheredB). The product runs over a grid of
 * positions, NR at a time: tile t's lanes read image elements start[t] + tapOffset(q) + 0..NR-1 (up to
 * NR elements past the image read zeros). Of grid position g = t * NR + lane, the outputs are `rows` runs
 * of `rowLength`: run r is grid positions r * rowStride.. and C's columns r * rowLength.. (the rest of the
 * grid is not stored).
 */
export interface OutputGrid {
  start: Int32Array;
  rows: number;
  rowLength: number;
  rowStride: number;
}

/** Writes `count` int32 byte offsets `offset(0..count-1)` at element `at` of the heap; returns the elements used (a multiple of 4, keeping what follows 16-byte aligned). */
function writeOffsets(at: number, count: number, offset: (i: number) => number): number {
  const offsets = new Int32Array(heap.buffer, at * 4, count);
  for (let i = 0; i < count; i++) offsets[i] = offset(i) * 4;
  return Math.ceil(count / 4) * 4;
}

/**
 * For each image i, C_i = alpha * A @ cols_i + shift (shift[r] added to row r; 0 without `shift`) with
 * op(A) m x k (packed once for all the images) and cols_i the column matrix of images[i] (k taps) read in
 * place over `grid`: the same float32 products and sums in the same order as gemmPackedB over the column
 * matrix onto C = shift (beta = 1), so the same bits, without
 * the column matrix (for a small convolution, packing it took longer than the product). The kernel
 * writes the grid's tiles in place in a row-major grid of results, which is then copied out row by row.
 * Returns false, doing nothing, where the SIMD kernel is off.
 */
export function gemmGatheredB(m: number, k: number, alpha: number, a: Operand, images: readonly ImageOperand[], grid: OutputGrid, shift: Float32Array | null, outs: readonly StridedMatrix[]): boolean {
  if (simdKernel === null || images.length === 0) return false;
  const imageLength = paddedLength(images[0]);
  const tiles = grid.start.length;
  const gridLength = tiles * NR;
  const resultsLength = Math.ceil(m / MR) * MR * gridLength;
  reserve(packedLengthA(m, k), k + tiles + 8 + imageLength + NR + resultsLength + imageStagingLength(images[0]));
  packA(a, m, k);
  const offsetsByte = bBase * 4;
  const startsAt = bBase + writeOffsets(bBase, k, (q) => images[0].tapOffset(q));
  const imageAt = startsAt + writeOffsets(startsAt, tiles, (t) => grid.start[t]);
  const resultsAt = imageAt + Math.ceil((imageLength + NR) / 4) * 4;
  heap.fill(0, imageAt + imageLength, imageAt + imageLength + NR);
  const stageAt = resultsAt + resultsLength;
  for (let i = 0; i < images.length; i++) {
    writeImage(images[i], imageAt, stageAt, i > 0);
    for (let i0 = 0; i0 < m; i0 += MR) simdKernel.gatherKernel((aBase + i0 * k) * 4, imageAt * 4, offsetsByte, k, (resultsAt + i0 * gridLength) * 4, gridLength * 4, startsAt * 4, tiles);
    storeGrid(m, alpha, shift, outs[i], resultsAt, gridLength, grid);
  }
  return true;
}

/**
 * C = alpha * the results + shift[row] (0 without `shift`), from the row-major grid of results at `at`
 * (rows gridLength long).
 */
function storeGrid(m: number, alpha: number, shift: Float32Array | null, c: StridedMatrix, at: number, gridLength: number, grid: OutputGrid): void {
  const { data } = c;
  const results = heap;
  const length = grid.rowLength;
  // C's rows one block of m whole rows: copied out, then the shift added per row in SIMD (alpha * r + add
  // with alpha 1 is the float32 sum either way).
  if (alpha === 1 && shift !== null && grid.rows === 1 && c.ld === length && length >= 64) {
    for (let i = 0; i < m; i++) data.set(results.subarray(at + i * gridLength, at + i * gridLength + length), c.offset + i * length);
    const block = data.subarray(c.offset, c.offset + m * length);
    if (simdBinaryRows('add', block, shift, block, m, length)) return;
  }
  for (let i = 0; i < m; i++) {
    const add = shift === null ? 0 : shift[i];
    for (let r = 0; r < grid.rows; r++) {
      const from = at + i * gridLength + r * grid.rowStride;
      const to = c.offset + i * c.ld + r * length;
      // A copy call pays for itself on long rows only (it makes a view of the results first).
      if (alpha === 1 && add === 0 && length >= 64) data.set(results.subarray(from, from + length), to);
      else for (let j = 0; j < length; j++) data[to + j] = alpha * results[from + j] + add;
    }
  }
}

/**
 * Elements of images and packed operand one gathered filter-gradient product holds at most (64 MB of
 * WebAssembly memory per thread); beyond, the images go in several products, added up.
 */
const MAX_GATHERED_A = 1 << 24;

/**
 * C^T = alpha * A @ op(B) (C^T's element (i, j) at c.offset + j * c.ld + i) with A the column matrices of
 * all the images side by side (m taps from `firstTap`, by k positions of each image) read in place and
 * op(B) the matching rows of each image's bs[i] (k x n): a convolution's filter gradient
 * dW = sum over images of dy_i @ cols_i^T as one product, each entry one float32 dot product over the
 * images' positions in order (over as many images as MAX_GATHERED_A allows: the products of the groups
 * are then added in float64, rounded once per group). Returns false, doing nothing, where the SIMD kernel
 * is off.
 */
export function gemmGatheredA(m: number, n: number, k: number, alpha: number, images: readonly ImageOperand[], firstTap: number, bs: readonly Operand[], c: StridedMatrix): boolean {
  if (simdKernel === null || images.length === 0) return false;
  const group = Math.max(1, Math.floor(MAX_GATHERED_A / (paddedLength(images[0]) + k + packedLengthB(k, n))));
  for (let g = 0; g < images.length; g += group) gatheredProductA(simdKernel.gatherRowsKernel, m, n, k, alpha, images.slice(g, g + group), firstTap, bs.slice(g, g + group), g === 0 ? 0 : 1, c);
  return true;
}

/** gemmGatheredA over one group of images, C^T = alpha * A @ op(B) + beta * C^T. */
function gatheredProductA(kernel: SimdKernels['gatherRowsKernel'], m: number, n: number, k: number, alpha: number, images: readonly ImageOperand[], firstTap: number, bs: readonly Operand[], beta: number, c: StridedMatrix): void {
  const imageLength = paddedLength(images[0]);
  const kAll = k * images.length;
  reserve(kAll + 4 + imageLength * images.length + imageStagingLength(images[0]), packedLengthB(kAll, n));
  for (let i = 0; i < images.length; i++) packB(bs[i], k, n, kAll, i * k);
  const offsetsByte = aBase * 4;
  const imagesAt = aBase + writeOffsets(aBase, kAll, (q) => Math.floor(q / k) * imageLength + images[0].positionOffset(q % k));
  const stageAt = imagesAt + imageLength * images.length;
  for (let i = 0; i < images.length; i++) writeImage(images[i], imagesAt + i * imageLength, stageAt, false);
  const rowByte = (i: number): number => (imagesAt + images[0].tapOffset(firstTap + Math.min(i, m - 1))) * 4;
  for (let i0 = 0; i0 < m; i0 += MR) {
    for (let j0 = 0; j0 < n; j0 += NR) {
      kernel(rowByte(i0), rowByte(i0 + 1), rowByte(i0 + 2), rowByte(i0 + 3), offsetsByte, (bBase + j0 * kAll) * 4, kAll, 0, NR * 4);
      storeTile(m, n, i0, j0, alpha, beta, c, true);
    }
  }
}

/**
 * tile[i*8 + j] = sum over q of A panel row i times B panel column j in float32: Math.fround after each
 * product and each sum (a product of two float32 values is exact in float64, and a float64 sum of two
 * float32 values rounds to the float32 sum), as the SIMD kernel computes it.
 */
function microKernel(pa: Float32Array, aStart: number, pb: Float32Array, bStart: number, k: number, out: Float32Array): void {
  const f = Math.fround;
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c04 = 0, c05 = 0, c06 = 0, c07 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0, c14 = 0, c15 = 0, c16 = 0, c17 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c24 = 0, c25 = 0, c26 = 0, c27 = 0;
  let c30 = 0, c31 = 0, c32 = 0, c33 = 0, c34 = 0, c35 = 0, c36 = 0, c37 = 0;
  let ai = aStart;
  let bi = bStart;
  for (let q = 0; q < k; q++, ai += 4, bi += 8) {
    const a0 = pa[ai], a1 = pa[ai + 1], a2 = pa[ai + 2], a3 = pa[ai + 3];
    let b = pb[bi];
    c00 = f(c00 + f(a0 * b)); c10 = f(c10 + f(a1 * b)); c20 = f(c20 + f(a2 * b)); c30 = f(c30 + f(a3 * b));
    b = pb[bi + 1];
    c01 = f(c01 + f(a0 * b)); c11 = f(c11 + f(a1 * b)); c21 = f(c21 + f(a2 * b)); c31 = f(c31 + f(a3 * b));
    b = pb[bi + 2];
    c02 = f(c02 + f(a0 * b)); c12 = f(c12 + f(a1 * b)); c22 = f(c22 + f(a2 * b)); c32 = f(c32 + f(a3 * b));
    b = pb[bi + 3];
    c03 = f(c03 + f(a0 * b)); c13 = f(c13 + f(a1 * b)); c23 = f(c23 + f(a2 * b)); c33 = f(c33 + f(a3 * b));
    b = pb[bi + 4];
    c04 = f(c04 + f(a0 * b)); c14 = f(c14 + f(a1 * b)); c24 = f(c24 + f(a2 * b)); c34 = f(c34 + f(a3 * b));
    b = pb[bi + 5];
    c05 = f(c05 + f(a0 * b)); c15 = f(c15 + f(a1 * b)); c25 = f(c25 + f(a2 * b)); c35 = f(c35 + f(a3 * b));
    b = pb[bi + 6];
    c06 = f(c06 + f(a0 * b)); c16 = f(c16 + f(a1 * b)); c26 = f(c26 + f(a2 * b)); c36 = f(c36 + f(a3 * b));
    b = pb[bi + 7];
    c07 = f(c07 + f(a0 * b)); c17 = f(c17 + f(a1 * b)); c27 = f(c27 + f(a2 * b)); c37 = f(c37 + f(a3 * b));
  }
  out[0] = c00; out[1] = c01; out[2] = c02; out[3] = c03; out[4] = c04; out[5] = c05; out[6] = c06; out[7] = c07;
  out[8] = c10; out[9] = c11; out[10] = c12; out[11] = c13; out[12] = c14; out[13] = c15; out[14] = c16; out[15] = c17;
  out[16] = c20; out[17] = c21; out[18] = c22; out[19] = c23; out[20] = c24; out[21] = c25; out[22] = c26; out[23] = c27;
  out[24] = c30; out[25] = c31; out[26] = c32; out[27] = c33; out[28] = c34; out[29] = c35; out[30] = c36; out[31] = c37;
}
