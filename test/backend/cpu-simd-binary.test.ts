/** The CPU backend's same-shape binary ops in WebAssembly SIMD (simd-binary.ts) against the float64 operation rounded to float32. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BinaryOp } from '../../src/backend/backend.js';
import { simdBinary, simdBinaryRows } from '../../src/backend/cpu/simd-binary.js';

const reference: Record<BinaryOp, (x: number, y: number) => number> = { add: (x, y) => x + y, sub: (x, y) => x - y, mul: (x, y) => x * y, div: (x, y) => x / y };

test('add, sub, mul and div in SIMD give the bits of float64 rounded to float32, over several blocks and a partial group', () => {
  // magnitudes from 1e-45 to 1e38 (subnormals, overflow, cancellation), zeros of both signs, infinities, NaN
  const n = 3 * 4096 + 7;
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  let seed = 12345;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  for (let i = 0; i < n; i++) {
    a[i] = (random() - 0.5) * 10 ** (random() * 83 - 45);
    b[i] = i % 7 === 0 ? -a[i] * (1 + 2 ** -20) : (random() - 0.5) * 10 ** (random() * 83 - 45);
  }
  [a[0], b[0], a[1], b[1], a[2], b[2], a[3]] = [0, -0, Infinity, Infinity, NaN, 1, 3e38];
  for (const op of Object.keys(reference) as BinaryOp[]) {
    const out = new Float32Array(n);
    assert.ok(simdBinary(op, a, b, out, n), 'Node 20 has WebAssembly SIMD');
    for (let i = 0; i < n; i++) {
      const expected = Math.fround(reference[op](a[i], b[i]));
      assert.ok(Object.is(out[i], expected) || (Number.isNaN(out[i]) && Number.isNaN(expected)), `${op}(${a[i]}, ${b[i]}) = ${out[i]}, expected ${expected}`);
    }
  }
});

test('a value per row: add, sub, mul and div of each row with its own float in SIMD give the bits of float64 rounded to float32', () => {
  // 3 rows fit a block of 4,096 floats at 1,200 a row: 7 rows take three blocks
  const rows = 7;
  const length = 1200;
  const a = Float32Array.from({ length: rows * length }, (_, i) => Math.sin(i) * 10 ** ((i % 17) - 8));
  const b = Float32Array.from({ length: rows }, (_, r) => (r % 2 === 0 ? -1 : 1) * 10 ** (r - 3));
  for (const op of Object.keys(reference) as BinaryOp[]) {
    const out = new Float32Array(rows * length);
    assert.ok(simdBinaryRows(op, a, b, out, rows, length));
    for (let i = 0; i < out.length; i++) {
      const expected = Math.fround(reference[op](a[i], b[Math.floor(i / length)]));
      assert.ok(Object.is(out[i], expected), `${op} at ${i}: ${out[i]}, expected ${expected}`);
    }
  }
  assert.equal(simdBinaryRows('add', a, b, new Float32Array(rows * 6), rows, 6), false, 'rows of 6 are not whole groups of four');
});
