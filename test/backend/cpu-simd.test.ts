/**
 * The CPU backend's fast paths against their plain versions: the WebAssembly SIMD micro-kernel of the
 * matrix product gives the same bits as the TypeScript one (and as the float32 dot product summed in order),
 * packColumns writes the same panels as im2col followed by packing, and a convolution that reads its padded
 * image in place gives the bits of the column-matrix path (its filter gradient, summed in another order, the values).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Conv2dParams } from '../../src/backend/backend.js';
import { setCpuThreadCount } from '../../src/backend/cpu/index.js';
import { gemm, gemmPackedB, useSimdKernel } from '../../src/backend/cpu/matmul.js';
import { im2col, packColumns } from '../../src/backend/cpu/im2col.js';
import { conv2d, conv2dBackwardData, conv2dBackwardFilter } from '../../src/backend/cpu/conv.js';
import { assertClose, randomArray } from '../helpers/gradcheck.js';

function bits(a: Float32Array): Uint32Array {
  return new Uint32Array(a.buffer, a.byteOffset, a.length);
}

const shapes: [number, number, number][] = [
  [1, 1, 1],
  [4, 8, 16],
  [5, 9, 3],
  [16, 256, 144],
  [13, 37, 71],
  [64, 17, 256],
];

test('the SIMD micro-kernel gives the bits of the TypeScript one and of the float32 dot product summed in order', () => {
  setCpuThreadCount(1); // useSimdKernel switches this thread's kernel only
  for (const [m, n, k] of shapes) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = randomArray(m * k, m + 7 * k);
      const b = randomArray(k * n, n + 11 * k);
      const run = (simd: boolean): Float32Array => {
        useSimdKernel(simd);
        const c = new Float32Array(m * n);
        gemm(m, n, k, 1, { data: a, offset: 0, ld: transA ? m : k, trans: transA }, { data: b, offset: 0, ld: transB ? k : n, trans: transB }, 0, { data: c, offset: 0, ld: n });
        return c;
      };
      const plain = run(false);
      const simd = run(true);
      useSimdKernel(true);
      assert.deepEqual(bits(simd), bits(plain), `${m}x${n}x${k} transA=${transA} transB=${transB}`);
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let sum = 0;
          for (let q = 0; q < k; q++) sum = Math.fround(sum + Math.fround(a[transA ? q * m + i : i * k + q] * b[transB ? j * k + q : q * n + j]));
          assert.equal(simd[i * n + j], sum, `${m}x${n}x${k} entry (${i}, ${j})`);
        }
      }
    }
  }
});

const convs: Conv2dParams[] = [
  { n: 1, cIn: 3, h: 16, w: 16, cOut: 1, kh: 3, kw: 3, padH: 1, padW: 1, stride: 1, hOut: 16, wOut: 16 },
  { n: 1, cIn: 2, h: 4, w: 4, cOut: 1, kh: 3, kw: 3, padH: 1, padW: 1, stride: 1, hOut: 4, wOut: 4 },
  { n: 1, cIn: 2, h: 5, w: 7, cOut: 1, kh: 3, kw: 3, padH: 2, padW: 2, stride: 1, hOut: 7, wOut: 9 },
  { n: 1, cIn: 3, h: 9, w: 9, cOut: 1, kh: 3, kw: 3, padH: 1, padW: 1, stride: 2, hOut: 5, wOut: 5 },
  { n: 1, cIn: 4, h: 8, w: 8, cOut: 1, kh: 1, kw: 1, padH: 0, padW: 0, stride: 1, hOut: 8, wOut: 8 },
  { n: 1, cIn: 2, h: 6, w: 10, cOut: 1, kh: 3, kw: 3, padH: 0, padW: 0, stride: 1, hOut: 4, wOut: 8 },
  { n: 1, cIn: 2, h: 5, w: 11, cOut: 1, kh: 1, kw: 7, padH: 0, padW: 3, stride: 1, hOut: 5, wOut: 11 },
  { n: 1, cIn: 2, h: 10, w: 4, cOut: 1, kh: 7, kw: 1, padH: 3, padW: 0, stride: 1, hOut: 10, wOut: 4 },
];

test('packColumns writes the panels of the column matrix (forward) and of its transpose (filter gradient)', () => {
  for (const p of convs) {
    const rows = p.cIn * p.kh * p.kw;
    const positions = p.hOut * p.wOut;
    const x = randomArray(7 + p.cIn * p.h * p.w, rows);
    const cols = new Float32Array(rows * positions);
    im2col(x, 7, p, cols);
    const padded = (count: number) => Math.ceil(count / 8) * 8;
    // Forward: k = rows, lanes = positions.
    const forward = new Float32Array(3 + padded(positions) * rows).fill(NaN);
    packColumns(x, 7, p, forward, 3, true);
    for (let r = 0; r < rows; r++)
      for (let j = 0; j < padded(positions); j++)
        assert.equal(forward[3 + (Math.floor(j / 8) * rows + r) * 8 + (j % 8)], j < positions ? cols[r * positions + j] : 0, `forward ${JSON.stringify(p)} row ${r} position ${j}`);
    // Filter gradient: rows [first, first + count) transposed, k = positions, lanes = rows.
    for (const [first, count] of [[0, rows], [Math.min(8, rows - 1), Math.max(1, rows - 8)], [1, Math.min(3, rows - 1)]]) {
      const filter = new Float32Array(5 + padded(count) * positions).fill(NaN);
      packColumns(x, 7, p, filter, 5, false, first, count);
      for (let j = 0; j < padded(count); j++)
        for (let q = 0; q < positions; q++)
          assert.equal(filter[5 + (Math.floor(j / 8) * positions + q) * 8 + (j % 8)], j < count ? cols[(first + j) * positions + q] : 0, `filter ${JSON.stringify(p)} rows ${first}+${count} row ${j} position ${q}`);
    }
  }
});

test('a product with op(B) packed by the caller equals the plain product', () => {
  const [m, n, k] = [6, 21, 19];
  const a = randomArray(m * k, 1);
  const b = randomArray(k * n, 2);
  const expected = new Float32Array(m * n);
  gemm(m, n, k, 0.5, { data: a, offset: 0, ld: k, trans: false }, { data: b, offset: 0, ld: n, trans: false }, 0, { data: expected, offset: 0, ld: n });
  const actual = new Float32Array(m * n);
  gemmPackedB(m, n, k, 0.5, { data: a, offset: 0, ld: k, trans: false }, (out, offset) => {
    for (let j = 0; j < Math.ceil(n / 8) * 8; j++) for (let q = 0; q < k; q++) out[offset + (Math.floor(j / 8) * k + q) * 8 + (j % 8)] = j < n ? b[q * n + j] : 0;
  }, 0, { data: actual, offset: 0, ld: n });
  assert.deepEqual(bits(actual), bits(expected));
});

test('convolutions that read the padded image in place (SIMD on) give the bits of the column-matrix path (SIMD off), and the filter gradient its values', () => {
  setCpuThreadCount(1);
  const cases: Conv2dParams[] = [
    { n: 2, cIn: 5, h: 16, w: 16, cOut: 7, kh: 3, kw: 3, padH: 1, padW: 1, stride: 1, hOut: 16, wOut: 16 },
    { n: 1, cIn: 3, h: 6, w: 10, cOut: 4, kh: 3, kw: 3, padH: 0, padW: 0, stride: 1, hOut: 4, wOut: 8 },
    { n: 1, cIn: 2, h: 8, w: 8, cOut: 9, kh: 5, kw: 5, padH: 2, padW: 2, stride: 1, hOut: 8, wOut: 8 },
    { n: 3, cIn: 4, h: 5, w: 7, cOut: 3, kh: 3, kw: 3, padH: 1, padW: 1, stride: 1, hOut: 5, wOut: 7 },
    { n: 2, cIn: 3, h: 9, w: 9, cOut: 4, kh: 1, kw: 7, padH: 0, padW: 3, stride: 1, hOut: 9, wOut: 9 },
    { n: 2, cIn: 3, h: 9, w: 9, cOut: 4, kh: 7, kw: 1, padH: 3, padW: 0, stride: 1, hOut: 9, wOut: 9 },
  ];
  for (const p of cases) {
    const x = randomArray(p.n * p.cIn * p.h * p.w, 3);
    const w = randomArray(p.cOut * p.cIn * p.kh * p.kw, 4);
    const bias = randomArray(p.cOut, 5);
    const dy = randomArray(p.n * p.cOut * p.hOut * p.wOut, 6);
    const run = (simd: boolean): Float32Array[] => {
      useSimdKernel(simd);
      const y = new Float32Array(dy.length);
      const dx = new Float32Array(x.length);
      const dw = new Float32Array(w.length);
      conv2d(x, w, bias, y, p);
      conv2dBackwardData(dy, w, dx, p);
      conv2dBackwardFilter(x, dy, dw, p);
      return [y, dx, dw];
    };
    const plain = run(false);
    const inPlace = run(true);
    assert.deepEqual(bits(inPlace[0]), bits(plain[0]), `${JSON.stringify(p)} forward`);
    assert.deepEqual(bits(inPlace[1]), bits(plain[1]), `${JSON.stringify(p)} data gradient`);
    // In place, the filter gradient is one float32 sum over all the images' positions; the plain path sums image by image.
    assertClose(inPlace[2], plain[2], 1e-5, `${JSON.stringify(p)} filter gradient`);
  }
});
