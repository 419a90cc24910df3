/**
 * Output files on a full disk: the write fails with the file's name and "the disk is full", and leaves
 * neither a partial target nor its temporary file. The full disk is /dev/full (every write is ENOSPC), put
 * where the temporary file goes by a symbolic link; skipped where there is no /dev/full.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtomicFile, checkOutputFile, checkOutputFolder, writeFileAtomic } from '../../src/util/output-file.js';
import { NpzWriter } from '../../src/data/npz.js';

const dir = mkdtempSync(join(tmpdir(), 'stagediff-out-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const fullDisk = existsSync('/dev/full');

/** Makes the temporary file of `path` a link to /dev/full. */
function onFullDisk(path: string): void {
  symlinkSync('/dev/full', `${path}.tmp-${process.pid}`);
}

test('a full disk: the error names the file and says the disk is full; nothing is left, an older file stays', { skip: !fullDisk && 'no /dev/full' }, () => {
  const path = join(dir, 'grid.png');
  onFullDisk(path);
  assert.throws(() => writeFileAtomic(path, new Uint8Array(100)), new RegExp(`${path}: cannot write: the disk is full: free space and run again \\(ENOSPC\\)`));
  assert.ok(!existsSync(path));
  assert.deepEqual(readdirSync(dir), []);
  const kept = join(dir, 'kept.json');
  writeFileSync(kept, 'old');
  onFullDisk(kept);
  assert.throws(() => writeFileAtomic(kept, 'new'), /kept\.json: cannot write: the disk is full/);
  assert.equal(readFileSync(kept, 'utf8'), 'old');
  rmSync(kept);
});

test('a full disk in the middle of a streamed npz: the error names it, no file, no temporary', { skip: !fullDisk && 'no /dev/full' }, () => {
  const path = join(dir, 'samples.npz');
  onFullDisk(path);
  assert.throws(() => {
    const w = new NpzWriter(path);
    w.begin('arr_0', '|u1', [4, 2, 2, 3]);
    w.write(new Uint8Array(48));
  }, /samples\.npz: cannot write: the disk is full/);
  assert.deepEqual(readdirSync(dir), []);
});

test('committed files appear whole under their name; aborted ones vanish', () => {
  const f = new AtomicFile(join(dir, 'a.bin'));
  f.append(new Uint8Array([1, 2, 3]));
  f.writeAt(new Uint8Array([9]), 1);
  assert.ok(!existsSync(join(dir, 'a.bin')), 'not visible before commit');
  f.commit();
  assert.deepEqual([...readFileSync(join(dir, 'a.bin'))], [1, 9, 3]);
  const g = new AtomicFile(join(dir, 'b.bin'));
  g.append(new Uint8Array([1]));
  g.abort();
  assert.deepEqual(readdirSync(dir), ['a.bin']);
  rmSync(join(dir, 'a.bin'));
});

test('output paths are checked: a missing folder, a folder given as a file, a file given as a folder', () => {
  assert.throws(() => checkOutputFile(join(dir, 'nope', 'x.json')), /x\.json: the folder .*nope does not exist; create it first/);
  mkdirSync(join(dir, 'sub'));
  assert.throws(() => checkOutputFile(join(dir, 'sub')), /sub: is a folder, expected a file name/);
  writeFileSync(join(dir, 'file'), '');
  assert.throws(() => checkOutputFolder(join(dir, 'file')), /file: exists and is not a folder/);
  assert.throws(() => checkOutputFolder(join(dir, 'nope', 'deeper')), /deeper: the folder .*nope does not exist/);
  checkOutputFolder(join(dir, 'sub'));
  checkOutputFolder(join(dir, 'new'));
  checkOutputFile(join(dir, 'new.json'));
  rmSync(join(dir, 'sub'), { recursive: true });
  rmSync(join(dir, 'file'));
});
