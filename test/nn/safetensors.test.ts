import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type HostTensor, parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors } from '../../src/nn/index.js';

const TENSORS: [string, HostTensor][] = [
  ['a.f32', { dtype: 'float32', shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 1e-30, -0, Infinity]) }],
  ['b.f16', { dtype: 'float16', shape: [3], data: Uint16Array.from([0x3c00, 0xc000, 0x7bff]) }],
  ['c.bf16', { dtype: 'bfloat16', shape: [1, 2], data: Uint16Array.from([0x3f80, 0xbf80]) }],
  ['d.i32', { dtype: 'int32', shape: [2], data: Int32Array.from([-7, 2147483647]) }],
  ['e.u8', { dtype: 'uint8', shape: [5], data: Uint8Array.from([0, 1, 2, 254, 255]) }],
  ['f.scalar', { dtype: 'float32', shape: [], data: Float32Array.from([42]) }],
  ['g.empty', { dtype: 'float32', shape: [0, 4], data: new Float32Array(0) }],
];

function withTempDir(fn: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'stagediff-st-'));
  try {
    fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A file with a hand-written header (and `dataBytes` zero bytes of data). */
function rawFile(header: unknown, dataBytes: number): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

test('every dtype round-trips through a file bit for bit, with metadata; the data section is 8-byte aligned', () => {
  withTempDir((dir) => {
    const path = join(dir, 'all.safetensors');
    writeSafetensors(path, TENSORS, { format: 'pt', note: 'héllo' });
    assert.deepEqual(readdirSync(dir), ['all.safetensors'], 'no temporary file is left behind');
    const bytes = readFileSync(path);
    assert.equal(Number(bytes.readBigUInt64LE(0)) % 8, 0);
    const { tensors, metadata } = readSafetensors(path);
    assert.deepEqual(metadata, { format: 'pt', note: 'héllo' });
    assert.deepEqual([...tensors.keys()], TENSORS.map(([k]) => k));
    for (const [name, t] of TENSORS) {
      const got = tensors.get(name)!;
      assert.equal(got.dtype, t.dtype, name);
      assert.deepEqual(got.shape, t.shape, name);
      assert.equal(got.data.constructor, t.data.constructor, name);
      assert.deepEqual(Buffer.from(got.data.buffer, got.data.byteOffset, got.data.byteLength), Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength), name);
    }
  });
});

test('a file truncated anywhere fails with its name and "truncated"', () => {
  withTempDir((dir) => {
    const bytes = serializeSafetensors(TENSORS);
    const headerEnd = 8 + Number(Buffer.from(bytes).readBigUInt64LE(0));
    for (const cut of [0, 5, 8, headerEnd - 3, headerEnd + 1, bytes.length - 1]) {
      const path = join(dir, `cut${cut}.safetensors`);
      writeFileSync(path, bytes.subarray(0, cut));
      assert.throws(() => readSafetensors(path), (e: Error) => e.message.startsWith(path) && /truncated/.test(e.message), `cut at ${cut}`);
    }
    assert.throws(() => readSafetensors(join(dir, 'absent.safetensors')), /absent\.safetensors: cannot read/);
  });
});

test('a corrupt header fails with a message that names the problem and the tensor', () => {
  const f32 = (offsets: number[], shape = [2]): unknown => ({ dtype: 'F32', shape, data_offsets: offsets });
  const cases: [string, Uint8Array, RegExp][] = [
    ['huge length', (() => { const b = new Uint8Array(16); new DataView(b.buffer).setBigUint64(0, 1n << 60n, true); return b; })(), /corrupt: header length \d+ exceeds/],
    ['not JSON', (() => { const b = rawFile({}, 0); b[8] = 0x7b; b[9] = 0x2c; return b; })(), /corrupt header: not valid UTF-8 JSON/],
    ['not an object', rawFile([1, 2], 0), /corrupt header: not a JSON object/],
    ['unknown dtype', rawFile({ w: { dtype: 'F64', shape: [1], data_offsets: [0, 8] } }, 8), /tensor "w": unsupported dtype "F64"/],
    ['bad shape', rawFile({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, 4), /tensor "w": shape \[-1\]/],
    ['size mismatch', rawFile({ w: f32([0, 12]) }, 12), /tensor "w": data_offsets \[0, 12\] hold 12 bytes but F32 \[2\] needs 8/],
    ['reversed offsets', rawFile({ w: f32([8, 0]) }, 8), /tensor "w": data_offsets \[8,0\]/],
    ['past the end', rawFile({ w: f32([0, 8]) }, 4), /truncated: tensor "w" ends at byte 8 of the data section, which has only 4/],
    ['overlap', rawFile({ w: f32([0, 8]), v: f32([4, 12]) }, 12), /tensor "v" starts at byte 4 .* \(overlap\)/],
    ['gap', rawFile({ w: f32([0, 8]), v: f32([12, 20]) }, 20), /tensor "v" starts at byte 12 .* \(gap\)/],
    ['trailing bytes', rawFile({ w: f32([0, 8]) }, 10), /corrupt: 2 bytes after the last tensor/],
    ['bad metadata', rawFile({ __metadata__: { k: 1 } }, 0), /__metadata__\.k is not a string/],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => parseSafetensors(bytes, 'model.safetensors'), (e: Error) => e.message.startsWith('model.safetensors: ') && message.test(e.message), what);
  }
});

test('writing refuses inconsistent tensors', () => {
  assert.throws(() => serializeSafetensors([['w', { dtype: 'float32', shape: [3], data: new Float32Array(2) }]]), /"w" has 8 bytes of data for float32 \[3\]/);
  assert.throws(() => serializeSafetensors([['__metadata__', TENSORS[0][1]]]), /reserved tensor name/);
});
