/**
 * The CPU matmul's micro-kernel in WebAssembly SIMD, assembled here from its instructions (no toolchain, no
 * binary file): two f64 lanes per instruction, the same products and sums in the same order as the
 * TypeScript kernel in matmul.ts, so the two agree to the bit (test/backend/cpu-simd.test.ts).
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

/**
 * matmul.ts's 4x8 micro-kernel as a WebAssembly SIMD function kernel(aByte, bByte, k, outByte) over its
 * memory, written out as bytes here (no toolchain needed): the 4x8 tile in two halves of 4x4, each half
 * 8 f64x2 accumulators (rows 0-3, columns 4h..4h+3) that start at zero and take acc + a * b for q = 0..k-1
 * in order, a read with load64_splat and b two columns at a time; then stored row-major into the tile.
 * Null where the runtime has no WebAssembly SIMD.
 */
export function createSimdKernel(): { kernel: (aByte: number, bByte: number, k: number, outByte: number) => void; memory: WasmMemory } | null {
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
