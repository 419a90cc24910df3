/**
 * Same-shape contiguous add, sub, mul and div in WebAssembly SIMD, four float32 lanes per instruction: the
 * tape's gradient sums and a U-Net's residual adds. In TypeScript each element is a float32 load, a
 * float64 operation and a rounding store, about 1.8 ns; here, with the operands copied into the module's
 * memory and the result copied out, about 0.5 ns. Each lane's operation is IEEE float32, rounded once, and
 * the float64 operation of two float32 values rounded to float32 is the same number (a double rounding
 * that cannot differ for +, -, * and /), so both paths give the same bits.
 */
import type { BinaryOp } from '../backend.js';
import { BLOCK, BR_IF, END, I32_ADD, I32_EQZ, I32_SUB, LOOP, VOID, functionBody, get, i32Const, instantiate, memarg, set, simd, tee } from './wasm-bytes.js';

const [V128_LOAD, V128_STORE] = [0x00, 0x0b];
const OPCODES: Record<BinaryOp, number> = { add: 0xe4, sub: 0xe5, mul: 0xe6, div: 0xe7 };

/** (aByte, bByte, outByte, groups): out = a op b over `groups` groups of four floats. */
function body(op: BinaryOp): number[] {
  const [A, B, OUT, N] = [0, 1, 2, 3];
  const code = [BLOCK, VOID, ...get(N), I32_EQZ, BR_IF, 0, LOOP, VOID];
  code.push(...get(OUT), ...get(A), ...simd(V128_LOAD, ...memarg(0)), ...get(B), ...simd(V128_LOAD, ...memarg(0)), ...simd(OPCODES[op]), ...simd(V128_STORE, ...memarg(0)));
  for (const p of [A, B, OUT]) code.push(...get(p), ...i32Const(16), I32_ADD, ...set(p));
  code.push(...get(N), ...i32Const(1), I32_SUB, ...tee(N), BR_IF, 0, END, END, END);
  return functionBody([], code);
}

const ops = Object.keys(OPCODES) as BinaryOp[];
const module = instantiate(ops.map((op) => ({ name: op, params: 4, body: body(op) })));
const heap = module ? new Float32Array(module.memory.buffer) : null;
/** Elements per pass through the module's memory (its one page holds three such blocks). */
const BLOCK_ELEMENTS = 4096;

/** out[i] = a[i] op b[i] for i in [0, n) in WebAssembly SIMD; false, doing nothing, where the runtime has none. */
export function simdBinary(op: BinaryOp, a: Float32Array, b: Float32Array, out: Float32Array, n: number): boolean {
  if (heap === null) return false;
  const run = module!.exports[op] as (aByte: number, bByte: number, outByte: number, groups: number) => void;
  for (let from = 0; from < n; from += BLOCK_ELEMENTS) {
    const count = Math.min(BLOCK_ELEMENTS, n - from);
    heap.set(a.subarray(from, from + count), 0);
    heap.set(b.subarray(from, from + count), BLOCK_ELEMENTS);
    run(0, 4 * BLOCK_ELEMENTS, 8 * BLOCK_ELEMENTS, Math.ceil(count / 4));
    out.set(heap.subarray(2 * BLOCK_ELEMENTS, 2 * BLOCK_ELEMENTS + count), from);
  }
  return true;
}
