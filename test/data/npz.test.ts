/**
 * .npy / .npz against numpy's own files (test/data/npz-fixtures, made by make.py there with numpy 2.4):
 * the writer's .npy bytes equal np.save's, the reader reads np.savez and np.savez_compressed, and what the
 * writer writes reads back (and, where python3 with numpy is installed, np.load reads it too).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type NpyArray, NpzWriter, crc32, decodeNpy, encodeNpy, readNpz, writeNpz } from '../../src/data/npz.js';
import { tempDir } from './temp-dir.js';

const FIXTURES = fileURLToPath(new URL('../../../test/data/npz-fixtures/', import.meta.url));
const values = JSON.parse(readFileSync(join(FIXTURES, 'values.json'), 'utf8')) as Record<string, { shape: number[]; values: number[] }>;
const DTYPES: Record<string, NpyArray['dtype']> = { arr_0: '|u1', mu: '<f8', sigma: '<f8', f32: '<f4', scalar: '<f8' };

function expected(name: string): NpyArray {
  const v = values[name];
  const dtype = DTYPES[name];
  const data = dtype === '|u1' ? Uint8Array.from(v.values) : dtype === '<f4' ? Float32Array.from(v.values) : Float64Array.from(v.values);
  return { dtype, shape: v.shape, data };
}

test('crc32 is the zip checksum', () => {
  assert.equal(crc32(new TextEncoder().encode('hello')), 0x3610a686);
  assert.equal(crc32(new TextEncoder().encode('lo'), crc32(new TextEncoder().encode('hel'))), 0x3610a686);
});

test('.npy bytes are byte for byte what np.save writes, and parse back', () => {
  for (const name of Object.keys(DTYPES)) {
    const file = readFileSync(join(FIXTURES, `${name}.npy`));
    assert.deepEqual(Buffer.from(encodeNpy(expected(name))), file, name);
    assert.deepEqual(decodeNpy(file, name), expected(name), name);
  }
});

test('np.savez (stored) and np.savez_compressed (deflated) files read as numpy wrote them', () => {
  for (const file of ['stored.npz', 'deflated.npz']) {
    const arrays = readNpz(join(FIXTURES, file));
    assert.deepEqual([...arrays.keys()].sort(), Object.keys(DTYPES).sort(), file);
    for (const name of Object.keys(DTYPES)) assert.deepEqual(arrays.get(name), expected(name), `${file}: ${name}`);
  }
});

test('what the writer writes reads back, streamed or whole; np.load reads it where numpy is installed', () => {
  const dir = tempDir();
  const path = join(dir, 'out.npz');
  const images = expected('arr_0');
  const writer = new NpzWriter(path);
  writer.begin('arr_0', '|u1', images.shape);
  for (let at = 0; at < images.data.length; at += 29) writer.write((images.data as Uint8Array).subarray(at, at + 29));
  writer.add('mu', expected('mu'));
  writer.close();
  assert.deepEqual(readdirSync(dir), ['out.npz'], 'no temporary file left');
  assert.equal(readFileSync(path).length, NpzWriter.fileSize([{ name: 'arr_0', ...images }, { name: 'mu', ...expected('mu') }]));
  const back = readNpz(path);
  assert.deepEqual(back.get('arr_0'), images);
  assert.deepEqual(back.get('mu'), expected('mu'));
  // The same arrays give the same bytes (no timestamps).
  const again = join(dir, 'again.npz');
  writeNpz(again, { arr_0: images, mu: expected('mu') });
  assert.deepEqual(readFileSync(again), readFileSync(path));
  const numpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' });
  if (numpy.status !== 0) return; // no numpy here: the fixture comparisons above carry the test
  const check = spawnSync('python3', ['-c', `
import json, sys, numpy as np
z = np.load(sys.argv[1])
print(json.dumps({k: [z[k].dtype.str, list(z[k].shape), z[k].ravel().tolist()] for k in z.files}))`, path], { encoding: 'utf8' });
  assert.equal(check.status, 0, check.stderr);
  const loaded = JSON.parse(check.stdout) as Record<string, [string, number[], number[]]>;
  assert.deepEqual(loaded.arr_0, ['|u1', images.shape, [...images.data]]);
  assert.deepEqual(loaded.mu, ['<f8', [5], values.mu.values]);
});

test('bad files give errors naming the file and the problem', () => {
  const dir = tempDir();
  const stored = readFileSync(join(FIXTURES, 'stored.npz'));
  const cases: [string, Uint8Array, RegExp][] = [
    ['truncated.npz', stored.subarray(0, stored.length - 30), /truncated.npz: not an .npz \(zip\) file/],
    ['text.npz', new TextEncoder().encode('hello, this is not a zip file at all'), /text.npz: not an .npz/],
  ];
  const flipped = Buffer.from(stored);
  flipped[200] ^= 1; // inside arr_0's data
  cases.push(['flipped.npz', flipped, /flipped.npz: entry 'arr_0.npy': checksum mismatch/]);
  for (const [name, bytes, message] of cases) {
    writeFileSync(join(dir, name), bytes);
    assert.throws(() => readNpz(join(dir, name)), message, name);
  }
  assert.throws(() => readNpz(join(dir, 'missing.npz')), /missing.npz: cannot read: no such file/);
  const npy = Buffer.from(readFileSync(join(FIXTURES, 'mu.npy')));
  assert.throws(() => decodeNpy(Buffer.from(npy.toString('latin1').replace("'<f8'", "'>f8'"), 'latin1'), 'be.npy'), /be.npy: dtype '>f8' is not supported/);
  assert.throws(() => decodeNpy(Buffer.from(npy.toString('latin1').replace('False', 'True '), 'latin1'), 'f.npy'), /f.npy: Fortran-order arrays are not supported/);
  assert.throws(() => decodeNpy(npy.subarray(0, npy.length - 8), 'short.npy'), /short.npy: 32 data bytes for <f8 \(5\), expected 40/);
  assert.ok(!existsSync(join(dir, 'missing.npz')));
});
