/**
 * The CPU matmul's micro-kernel in WebAssembly SIMD, assembled here from its instructions (no toolchain, no
 * binary file): four f32 lanes per instruction, the same float32 products and sums in the same order as
 * the TypeScript kernel in matmul.ts, so the two agree to the bit (test/backend/cpu-simd.test.ts).
 */
import { BR_IF, END, I32, I32_ADD, I32_LOAD, I32_SUB, LOOP, V128, VOID, type WasmMemory, countedLoop, functionBody, get, i32Const, instantiate, memarg, set, simd, tee } from './wasm-bytes.js';

/** The tile of C one kernel call computes: MR rows by NR columns (matmul.ts packs its panels to it). */
export const MR = 4;
export const NR = 8;

/** The SIMD functions over the module's memory (byte addresses; see createSimdKernel). */
export interface SimdKernels {
  /**
   * The 4x8 tiles of C (float32, row r at outByte + r * outStride) from A's panel at aByte (k columns of
   * MR values), `tiles` of them, tile t with B's row q the NR contiguous values at imageByte + starts[t] +
   * offsets[q] (int32 byte offsets at startsByte and offsetsByte) and its results at outByte + t * NR * 4:
   * a convolution reads its B rows straight from a (padded) image instead of a column matrix.
   */
  gatherKernel: (aByte: number, imageByte: number, offsetsByte: number, k: number, outByte: number, outStride: number, startsByte: number, tiles: number) => void;
  /**
   * The kernel with A's MR rows read in place: row i's element q at rowByte_i + offsets[q] (the filter
   * gradient of a convolution, whose A is the column matrix).
   */
  gatherRowsKernel: (row0Byte: number, row1Byte: number, row2Byte: number, row3Byte: number, offsetsByte: number, bByte: number, k: number, outByte: number, outStride: number) => void;
  /**
   * Copies `planes` planes of `rows` rows of 4 * `groups` floats: row r of plane t from
   * srcByte + t * (rows * srcRowStride + srcPlaneGap) + r * srcRowStride to the same with dst (the strides
   * and gaps in bytes, a gap may be negative; groups, rows and planes at least 1). An image into the inside
   * of its zero-padded copy, a matrix into the panels of its packed form.
   */
  moveRows: (srcByte: number, dstByte: number, planes: number, rows: number, groups: number, srcRowStride: number, srcPlaneGap: number, dstRowStride: number, dstPlaneGap: number) => void;
  memory: WasmMemory;
}

/**
 * matmul.ts's 4x8 micro-kernel as WebAssembly SIMD functions over their memory, written out as bytes here
 * (no toolchain needed): 8 f32x4 accumulators (row r, columns 4c..4c+3) that start at zero and take
 * acc + a * b for q = 0..k-1 in order (a product rounded to float32, then a sum rounded to float32: there
 * is no fused multiply-add without relaxed SIMD, which Node 20 has only behind a flag), a read with
 * load32_splat and b four columns at a time; then stored row-major into the tile. Null where the runtime
 * has no WebAssembly SIMD.
 */
export function createSimdKernel(): SimdKernels | null {
  const module = instantiate([
    { name: 'gatherKernel', params: 8, body: body('gatherB') },
    { name: 'gatherRowsKernel', params: 9, body: body('gatherA') },
    { name: 'moveRows', params: 9, body: moveRowsBody() },
  ]);
  if (module === null) return null;
  const { exports, memory } = module;
  return { gatherKernel: exports.gatherKernel as SimdKernels['gatherKernel'], gatherRowsKernel: exports.gatherRowsKernel as SimdKernels['gatherRowsKernel'], moveRows: exports.moveRows as SimdKernels['moveRows'], memory };
}

const [V128_LOAD, V128_STORE, V128_CONST, LOAD32_SPLAT, F32X4_ADD, F32X4_MUL] = [0x00, 0x0b, 0x0c, 0x09, 0xe4, 0xe6];

/**
 * One function's body, by where the operands' rows are read: 'gatherB' (gatherKernel: aByte, imageByte,
 * offsetsByte, k, outByte, outStride, startsByte, tiles: a tile per start, its B at imageByte + starts[t],
 * its results at outByte + t * NR * 4; packed B panels are read through it too) or
 * 'gatherA' (gatherRowsKernel: four row addresses, offsetsByte, bByte, k, outByte, outStride). Locals
 * after the parameters: the a pointer, the b pointer, steps left, the offsets pointer, the offset of row
 * q, gatherB's bByte and outByte of the tile (i32); the two b vectors, the splatted a, the accumulators
 * (row r, columns 4c..4c+3 at ACC + 2r + c) (v128).
 */
function body(kind: 'gatherB' | 'gatherA'): number[] {
  const params = { gatherB: 8, gatherA: 9 }[kind];
  const [AP, BP, Q, OP, O, TILE_B, TILE_OUT, B0, B1, A, ACC] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => params + i);
  const [A_BYTE, B_BYTE, OFFSETS, K, OUT, OUT_STRIDE] = { gatherB: [0, TILE_B, 2, 3, TILE_OUT, 5], gatherA: [-1, 5, 4, 6, 7, 8] }[kind];
  const [IMAGE, OUT_BASE, STARTS, TILES] = [1, 4, 6, 7];
  const code: number[] = [];
  if (kind === 'gatherB') {
    code.push(...get(IMAGE), ...get(STARTS), I32_LOAD, 2, 0, I32_ADD, ...set(TILE_B), ...get(OUT_BASE), ...set(TILE_OUT));
  }
  for (let i = 0; i < 8; i++) code.push(...simd(V128_CONST, ...new Array<number>(16).fill(0)), ...set(ACC + i));
  if (kind !== 'gatherA') code.push(...get(A_BYTE), ...set(AP));
  code.push(...get(OFFSETS), ...set(OP));
  code.push(...get(B_BYTE), ...set(BP), ...get(K), ...set(Q));
  const step = [...get(OP), I32_LOAD, 2, 0, ...set(O)];
  // Row q of B: the next NR values of the panel, or those at bByte + offsets[q].
  const row = kind === 'gatherB' ? [...get(B_BYTE), ...get(O), I32_ADD] : get(BP);
  step.push(...row, ...simd(V128_LOAD, ...memarg(0)), ...set(B0));
  step.push(...row, ...simd(V128_LOAD, ...memarg(16)), ...set(B1));
  for (let r = 0; r < MR; r++) {
    // Element q of A's row r: in the panel, or at rowByte_r + offsets[q].
    if (kind === 'gatherA') step.push(...get(r), ...get(O), I32_ADD, ...simd(LOAD32_SPLAT, ...memarg(0)), ...set(A));
    else step.push(...get(AP), ...simd(LOAD32_SPLAT, ...memarg(4 * r)), ...set(A));
    for (let c = 0; c < 2; c++) step.push(...get(ACC + 2 * r + c), ...get(A), ...get(c === 0 ? B0 : B1), ...simd(F32X4_MUL), ...simd(F32X4_ADD), ...set(ACC + 2 * r + c));
  }
  if (kind !== 'gatherA') step.push(...get(AP), ...i32Const(4 * MR), I32_ADD, ...set(AP));
  step.push(...get(OP), ...i32Const(4), I32_ADD, ...set(OP));
  if (kind !== 'gatherB') step.push(...get(BP), ...i32Const(4 * NR), I32_ADD, ...set(BP));
  code.push(...countedLoop(Q, step));
  // Row r of the tile at outByte + r * outStride (the out pointer advances row by row).
  for (let r = 0; r < MR; r++) {
    if (r > 0) code.push(...get(OUT), ...get(OUT_STRIDE), I32_ADD, ...set(OUT));
    for (let c = 0; c < 2; c++) code.push(...get(OUT), ...get(ACC + 2 * r + c), ...simd(V128_STORE, ...memarg(16 * c)));
  }
  if (kind === 'gatherB') {
    code.push(...get(OUT_BASE), ...i32Const(4 * NR), I32_ADD, ...set(OUT_BASE), ...get(STARTS), ...i32Const(4), I32_ADD, ...set(STARTS));
    return functionBody([[7, I32], [11, V128]], [...countedLoop(TILES, code), END]);
  }
  return functionBody([[7, I32], [11, V128]], [...code, END]);
}

/** moveRows: a v128 at a time; locals after the parameters: rows left, groups left, the two pointers within a row. */
function moveRowsBody(): number[] {
  const [SRC, DST, PLANES, ROWS, GROUPS, SRC_ROW_STRIDE, SRC_PLANE_GAP, DST_ROW_STRIDE, DST_PLANE_GAP, ROWS_LEFT, GROUPS_LEFT, FROM, TO] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
  const step = (local: number, by: number[]): number[] => [...get(local), ...by, I32_ADD, ...set(local)];
  const countDown = (local: number): number[] => [...get(local), ...i32Const(1), I32_SUB, ...tee(local), BR_IF, 0];
  const code = [LOOP, VOID, ...get(ROWS), ...set(ROWS_LEFT), LOOP, VOID];
  code.push(...get(GROUPS), ...set(GROUPS_LEFT), ...get(SRC), ...set(FROM), ...get(DST), ...set(TO), LOOP, VOID);
  code.push(...get(TO), ...get(FROM), ...simd(V128_LOAD, ...memarg(0)), ...simd(V128_STORE, ...memarg(0)));
  code.push(...step(FROM, i32Const(16)), ...step(TO, i32Const(16)), ...countDown(GROUPS_LEFT), END);
  code.push(...step(SRC, get(SRC_ROW_STRIDE)), ...step(DST, get(DST_ROW_STRIDE)), ...countDown(ROWS_LEFT), END);
  code.push(...step(SRC, get(SRC_PLANE_GAP)), ...step(DST, get(DST_PLANE_GAP)), ...countDown(PLANES), END, END);
  return functionBody([[4, I32]], code);
}
