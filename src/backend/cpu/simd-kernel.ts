/**
 * The CPU matmul's micro-kernel in WebAssembly SIMD, assembled here from its instructions (no toolchain, no
 * binary file): four f32 lanes per instruction, the same float32 products and sums in the same order as
 * the TypeScript kernel in matmul.ts, so the two agree to the bit (test/backend/cpu-simd.test.ts).
 */
/** The tile of C one kernel call computes: MR rows by NR columns (matmul.ts packs its panels to it). */
export const MR = 4;
export const NR = 8;

/** The little of the WebAssembly JavaScript API used here (the project's TypeScript libraries do not declare it). */
declare const WebAssembly: {
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
};
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The SIMD functions over the module's memory (byte addresses; see createSimdKernel). */
export interface SimdKernels {
  /**
   * The tile (float32, row r at outByte + r * outStride) from A's panel at aByte and B's panel at bByte
   * (k rows of NR contiguous values).
   */
  kernel: (aByte: number, bByte: number, k: number, outByte: number, outStride: number) => void;
  /**
   * The same for `tiles` tiles, tile t with B's row q the NR contiguous values at imageByte + starts[t] +
   * offsets[q] (int32 byte offsets at startsByte and offsetsByte) and its results at outByte + t * NR * 4:
   * a convolution reads its B rows straight from a (padded) image instead of a column matrix.
   */
  gatherKernel: (aByte: number, imageByte: number, offsetsByte: number, k: number, outByte: number, outStride: number, startsByte: number, tiles: number) => void;
  /**
   * The kernel with A's MR rows read in place: row i's element q at rowByte_i + offsets[q] (the filter
   * gradient of a convolution, whose A is the column matrix).
   */
  gatherRowsKernel: (row0Byte: number, row1Byte: number, row2Byte: number, row3Byte: number, offsetsByte: number, bByte: number, k: number, outByte: number, outStride: number) => void;
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
  try {
    const bytes = simdKernelModule();
    if (typeof WebAssembly === 'undefined' || !WebAssembly.validate(bytes)) return null;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const { exports } = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } });
    return { kernel: exports.kernel as SimdKernels['kernel'], gatherKernel: exports.gatherKernel as SimdKernels['gatherKernel'], gatherRowsKernel: exports.gatherRowsKernel as SimdKernels['gatherRowsKernel'], memory };
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
  const memarg = (offset: number): number[] => [2, ...uleb(offset)]; // alignment hint 4 bytes
  const [V128_LOAD, V128_STORE, V128_CONST, LOAD32_SPLAT, F32X4_ADD, F32X4_MUL] = [0x00, 0x0b, 0x0c, 0x09, 0xe4, 0xe6];
  const I32_LOAD = 0x28, I32_EQZ = 0x45, I32_ADD = 0x6a, I32_SUB = 0x6b, BLOCK = 0x02, LOOP = 0x03, BR_IF = 0x0d, END = 0x0b, VOID = 0x40;
  const I32 = 0x7f, V128 = 0x7b;

  /**
   * One function's body, by where the operands' rows are read: 'packed' (kernel: aByte, bByte, k, outByte,
   * outStride), 'gatherB' (gatherKernel: aByte, imageByte, offsetsByte, k, outByte, outStride, startsByte,
   * tiles: a tile per start, its B at imageByte + starts[t], its results at outByte + t * NR * 4) or
   * 'gatherA' (gatherRowsKernel: four row addresses, offsetsByte, bByte, k, outByte, outStride). Locals
   * after the parameters: the a pointer, the b pointer, steps left, the offsets pointer, the offset of row
   * q, gatherB's bByte and outByte of the tile (i32); the two b vectors, the splatted a, the accumulators
   * (row r, columns 4c..4c+3 at ACC + 2r + c) (v128).
   */
  const body = (kind: 'packed' | 'gatherB' | 'gatherA'): number[] => {
    const params = { packed: 5, gatherB: 8, gatherA: 9 }[kind];
    const [AP, BP, Q, OP, O, TILE_B, TILE_OUT, B0, B1, A, ACC] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((i) => params + i);
    const [A_BYTE, B_BYTE, OFFSETS, K, OUT, OUT_STRIDE] = { packed: [0, 1, -1, 2, 3, 4], gatherB: [0, TILE_B, 2, 3, TILE_OUT, 5], gatherA: [-1, 5, 4, 6, 7, 8] }[kind];
    const [IMAGE, OUT_BASE, STARTS, TILES] = [1, 4, 6, 7];
    const code: number[] = [];
    if (kind === 'gatherB') {
      code.push(BLOCK, VOID, ...get(TILES), I32_EQZ, BR_IF, 0, LOOP, VOID);
      code.push(...get(IMAGE), ...get(STARTS), I32_LOAD, 2, 0, I32_ADD, ...set(TILE_B), ...get(OUT_BASE), ...set(TILE_OUT));
    }
    for (let i = 0; i < 8; i++) code.push(...simd(V128_CONST, ...new Array<number>(16).fill(0)), ...set(ACC + i));
    if (kind !== 'gatherA') code.push(...get(A_BYTE), ...set(AP));
    if (kind !== 'packed') code.push(...get(OFFSETS), ...set(OP));
    code.push(...get(B_BYTE), ...set(BP), ...get(K), ...set(Q));
    code.push(BLOCK, VOID, ...get(Q), I32_EQZ, BR_IF, 0, LOOP, VOID);
    if (kind !== 'packed') code.push(...get(OP), I32_LOAD, 2, 0, ...set(O));
    // Row q of B: the next NR values of the panel, or those at bByte + offsets[q].
    const row = kind === 'gatherB' ? [...get(B_BYTE), ...get(O), I32_ADD] : get(BP);
    code.push(...row, ...simd(V128_LOAD, ...memarg(0)), ...set(B0));
    code.push(...row, ...simd(V128_LOAD, ...memarg(16)), ...set(B1));
    for (let r = 0; r < MR; r++) {
      // Element q of A's row r: in the panel, or at rowByte_r + offsets[q].
      if (kind === 'gatherA') code.push(...get(r), ...get(O), I32_ADD, ...simd(LOAD32_SPLAT, ...memarg(0)), ...set(A));
      else code.push(...get(AP), ...simd(LOAD32_SPLAT, ...memarg(4 * r)), ...set(A));
      for (let c = 0; c < 2; c++) code.push(...get(ACC + 2 * r + c), ...get(A), ...get(c === 0 ? B0 : B1), ...simd(F32X4_MUL), ...simd(F32X4_ADD), ...set(ACC + 2 * r + c));
    }
    if (kind !== 'gatherA') code.push(...get(AP), ...i32Const(4 * MR), I32_ADD, ...set(AP));
    if (kind !== 'packed') code.push(...get(OP), ...i32Const(4), I32_ADD, ...set(OP));
    if (kind !== 'gatherB') code.push(...get(BP), ...i32Const(4 * NR), I32_ADD, ...set(BP));
    code.push(...get(Q), ...i32Const(1), I32_SUB, ...tee(Q), BR_IF, 0, END, END);
    // Row r of the tile at outByte + r * outStride (the out pointer advances row by row).
    for (let r = 0; r < MR; r++) {
      if (r > 0) code.push(...get(OUT), ...get(OUT_STRIDE), I32_ADD, ...set(OUT));
      for (let c = 0; c < 2; c++) code.push(...get(OUT), ...get(ACC + 2 * r + c), ...simd(V128_STORE, ...memarg(16 * c)));
    }
    if (kind === 'gatherB') {
      code.push(...get(OUT_BASE), ...i32Const(4 * NR), I32_ADD, ...set(OUT_BASE), ...get(STARTS), ...i32Const(4), I32_ADD, ...set(STARTS));
      code.push(...get(TILES), ...i32Const(1), I32_SUB, ...tee(TILES), BR_IF, 0, END, END);
    }
    code.push(END);
    const bytes = [...vec([[...uleb(7), I32], [...uleb(11), V128]]), ...code];
    return [...uleb(bytes.length), ...bytes];
  };
  const signature = (count: number): number[] => [0x60, ...vec(new Array<number[]>(count).fill([I32])), ...vec([])];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0,
    ...section(1, vec([signature(5), signature(8), signature(9)])), // types: (i32 x5), (i32 x8), (i32 x9) -> ()
    ...section(2, vec([[...name('env'), ...name('memory'), 0x02, 0x00, 1]])), // import memory, at least 1 page
    ...section(3, vec([[0], [1], [2]])), // function i has type i
    ...section(7, vec([[...name('kernel'), 0x00, 0], [...name('gatherKernel'), 0x00, 1], [...name('gatherRowsKernel'), 0x00, 2]])),
    ...section(10, vec([body('packed'), body('gatherB'), body('gatherA')])),
  ]);
}
