/**
 * The CUDA kernels' by-value argument structs are defined once (kernels/struct.ts) and generate both the C
 * text in the kernel source and the host packing. Runs without a GPU: the C text is compared with the
 * declarations the kernels were written and verified with, the layout with C's rules worked out by hand.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KernelStruct } from '../../src/backend/cuda/kernels/struct.js';
import { BCAST, ELEMENTWISE } from '../../src/backend/cuda/kernels/elementwise.js';
import { LAYOUT, PERM, RED } from '../../src/backend/cuda/kernels/layout.js';
import { FIR, RESAMPLE } from '../../src/backend/cuda/kernels/resample.js';
import { ADAM_ENTRY, EMA_ENTRY, MULTI_TENSOR, SPAN_ENTRY } from '../../src/backend/cuda/kernels/multi-tensor.js';

const DECLARED = [
  { struct: BCAST, module: ELEMENTWISE, text: 'struct Bcast { int nd; int pad; i64 dim[6]; i64 sa[6]; i64 sb[6]; };', bytes: 152 },
  { struct: RED, module: LAYOUT, text: 'struct Red { int nk; int nr; i64 kdim[6]; i64 kstride[6]; i64 rdim[6]; i64 rstride[6]; };', bytes: 200 },
  { struct: PERM, module: LAYOUT, text: 'struct Perm { int nd; int pad; i64 dim[8]; i64 stride[8]; };', bytes: 136 },
  { struct: FIR, module: RESAMPLE, text: 'struct Fir { float taps[8]; int k; int pad; int expand; float scale; };', bytes: 48 },
  // the multi-tensor kernels' table records: pointers as 64-bit integers
  { struct: ADAM_ENTRY, module: MULTI_TENSOR, text: 'struct AdamEntry { i64 param; i64 grad; i64 m; i64 v; i64 n; };', bytes: 40 },
  { struct: EMA_ENTRY, module: MULTI_TENSOR, text: 'struct EmaEntry { i64 average; i64 value; i64 n; };', bytes: 24 },
  { struct: SPAN_ENTRY, module: MULTI_TENSOR, text: 'struct SpanEntry { i64 x; i64 n; };', bytes: 16 },
];

test('each struct generates the declaration its kernel source holds, and its C size', () => {
  for (const { struct, module, text, bytes } of DECLARED) {
    assert.equal(struct.cText(), text);
    assert.ok(module.source.includes(`\n${text}\n`), `${module.name} does not declare ${struct.name}`);
    assert.equal(struct.bytes, bytes, struct.name);
  }
});

test('the kernels that take a struct pass exactly its size', () => {
  const sizes = (m: typeof LAYOUT) => Object.values(m.kernels).flatMap((kinds) => kinds.filter((k) => typeof k === 'object').map((k) => (k as { bytes: number }).bytes));
  assert.deepEqual([...new Set(sizes(ELEMENTWISE))], [BCAST.bytes]);
  assert.deepEqual([...new Set(sizes(LAYOUT))].sort((a, b) => a - b), [PERM.bytes, RED.bytes].sort((a, b) => a - b));
  assert.deepEqual([...new Set(sizes(RESAMPLE))], [FIR.bytes]);
});

test('fields sit where C puts them: each at a multiple of its size, the struct padded to its widest field', () => {
  const s = new KernelStruct('Mixed', [
    { name: 'a', type: 'int' },
    { name: 'b', type: 'i64' },
    { name: 'c', type: 'float', length: 3 },
  ]);
  assert.equal(s.offsetOf('a'), 0);
  assert.equal(s.offsetOf('b'), 8);
  assert.equal(s.offsetOf('c'), 16);
  assert.equal(s.bytes, 32);
  assert.equal(FIR.offsetOf('k'), 32);
  assert.equal(FIR.offsetOf('scale'), 44);
  assert.equal(BCAST.offsetOf('sb'), 8 + 2 * 6 * 8);
});

test('pack writes little-endian values at the field offsets and zeros elsewhere', () => {
  const bytes = RED.pack({ nk: 2, nr: 1, kdim: [3, 5], kstride: [40, 1], rdim: [8], rstride: [5] });
  const v = new DataView(bytes.buffer);
  assert.equal(bytes.length, 200);
  assert.equal(v.getInt32(0, true), 2);
  assert.equal(v.getInt32(4, true), 1);
  assert.equal(v.getBigInt64(8, true), 3n);
  assert.equal(v.getBigInt64(16, true), 5n);
  assert.equal(v.getBigInt64(24, true), 0n, 'unused slots of a dims array stay zero');
  assert.equal(v.getBigInt64(56, true), 40n);
  assert.equal(v.getBigInt64(104, true), 8n);
  assert.equal(v.getBigInt64(152, true), 5n);
  const fir = new DataView(FIR.pack({ taps: [0.25, 0.75], k: 2, pad: 1, expand: 1, scale: 0.5 }).buffer);
  assert.deepEqual([fir.getFloat32(0, true), fir.getFloat32(4, true), fir.getFloat32(8, true)], [0.25, 0.75, 0]);
  assert.deepEqual([fir.getInt32(32, true), fir.getInt32(36, true), fir.getInt32(40, true), fir.getFloat32(44, true)], [2, 1, 1, 0.5]);
});

test('packArray lays records out as a C array: one struct size apart, each packed as pack() does', () => {
  const records = [{ average: 0x7f0000001000, value: 0x7f0000002000, n: 3 }, { average: 0x7f0000003000, value: 0x7f0000004000, n: 65536 }];
  const bytes = EMA_ENTRY.packArray(records);
  assert.equal(bytes.length, 2 * EMA_ENTRY.bytes);
  assert.deepEqual(bytes.subarray(EMA_ENTRY.bytes), EMA_ENTRY.pack(records[1]));
  const v = new DataView(bytes.buffer);
  assert.equal(v.getBigInt64(24 + 8, true), 0x7f0000004000n);
  assert.equal(v.getBigInt64(24 + 16, true), 65536n);
});

test('pack refuses unknown fields and arrays longer than their field', () => {
  assert.throws(() => PERM.pack({ ndim: 1 }), /no field ndim/);
  assert.throws(() => PERM.pack({ dim: new Array(9).fill(1) }), /at most 8 numbers/);
  assert.throws(() => PERM.pack({ nd: [1, 2] }), /one number/);
});
