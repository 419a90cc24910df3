/**
 * Same-shape contiguous add, sub, mul and div in WebAssembly SIMD, four float32 lanes per instruction: the
 * tape's gradient sums and a U-Net's residual adds. In TypeScript each element is a float32 load, a
 * float64 operation and a rounding store, about 1.8 ns; here, with the operands copied into the module's
 * memory and the result copied out, about 0.5 ns. Each lane's operation is IEEE float32, rounded once, and
 * the float64 operation of two float32 values rounded to float32 is the same number (a double rounding
 * that cannot differ for +, -, * and /), so both paths give the same bits. Also one operand with a value
 * per row of the other ([N, C, H, W] with [N, C, 1, 1]: a U-Net block's embedding added to its
 * activations).
 */
import type { BinaryOp } from '../backend.js';
import { END, I32, I32_ADD, V128, countedLoop, functionBody, get, i32Const, instantiate, memarg, set, simd } from './wasm-bytes.js';

const [V128_LOAD, V128_STORE, LOAD32_SPLAT] = [0x00, 0x0b, 0x09];
const OPCODES: Record<BinaryOp, number> = { add: 0xe4, sub: 0xe5, mul: 0xe6, div: 0xe7 };

/**
 * 'whole' (aByte, bByte, outByte, groups): out = a op b over `groups` groups of four floats. 'rows' (aByte,
 * bByte, outByte, rows, groups): row r of a (`groups` groups of four) op the float b[r]. Local of 'rows':
 * rows' groups left, b[r] splatted.
 */
function body(op: BinaryOp, kind: 'whole' | 'rows'): number[] {
  const [A, B, OUT] = [0, 1, 2];
  const [N, ROWS, GROUPS, LEFT, BV] = kind === 'whole' ? [3, -1, -1, -1, -1] : [6, 3, 4, 5, 6];
  const operand = kind === 'whole' ? [...get(B), ...simd(V128_LOAD, ...memarg(0))] : get(BV);
  const group = [...get(OUT), ...get(A), ...simd(V128_LOAD, ...memarg(0)), ...operand, ...simd(OPCODES[op]), ...simd(V128_STORE, ...memarg(0))];
  for (const p of kind === 'whole' ? [A, B, OUT] : [A, OUT]) group.push(...get(p), ...i32Const(16), I32_ADD, ...set(p));
  if (kind === 'whole') return functionBody([], [...countedLoop(N, group), END]);
  const row = [...get(B), ...simd(LOAD32_SPLAT, ...memarg(0)), ...set(BV), ...get(GROUPS), ...set(LEFT), ...countedLoop(LEFT, group)];
  row.push(...get(B), ...i32Const(4), I32_ADD, ...set(B));
  return functionBody([[1, I32], [1, V128]], [...countedLoop(ROWS, row), END]);
}

const ops = Object.keys(OPCODES) as BinaryOp[];
const module = instantiate([...ops.map((op) => ({ name: op, params: 4, body: body(op, 'whole') })), ...ops.map((op) => ({ name: `${op}Rows`, params: 5, body: body(op, 'rows') }))]);
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

/**
 * out[r * length + i] = a[r * length + i] op b[r] for `rows` rows in WebAssembly SIMD; false, doing
 * nothing, where the runtime has none or a row is not whole groups of four that fit a block.
 */
export function simdBinaryRows(op: BinaryOp, a: Float32Array, b: Float32Array, out: Float32Array, rows: number, length: number): boolean {
  if (heap === null || length % 4 !== 0 || length === 0 || length > BLOCK_ELEMENTS) return false;
  const run = module!.exports[`${op}Rows`] as (aByte: number, bByte: number, outByte: number, rows: number, groups: number) => void;
  const rowsPerBlock = Math.floor(BLOCK_ELEMENTS / length);
  for (let first = 0; first < rows; first += rowsPerBlock) {
    const count = Math.min(rowsPerBlock, rows - first);
    heap.set(a.subarray(first * length, (first + count) * length), 0);
    heap.set(b.subarray(first, first + count), BLOCK_ELEMENTS);
    run(0, 4 * BLOCK_ELEMENTS, 0, count, length / 4);
    out.set(heap.subarray(0, count * length), first * length);
  }
  return true;
}
