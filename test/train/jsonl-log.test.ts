import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { JsonlLog } from '../../src/train/jsonl-log.js';
import { tempDir } from '../data/temp-dir.js';

test('the training log keeps the lines up to the resumed checkpoint, and a full disk is an error naming it', { skip: !existsSync('/dev/full') && 'needs /dev/full (Linux)' }, () => {
  const dir = tempDir();
  const path = join(dir, 'log.jsonl');
  writeFileSync(path, '{"images":8}\n{"images":16}\nnot json\n{"images":24}\n');
  const log = new JsonlLog(path, 16);
  assert.equal(readFileSync(path, 'utf8'), '{"images":8}\n{"images":16}\n');
  log.write({ images: 24 });
  assert.deepEqual(readFileSync(path, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { images: number }).images), [8, 16, 24]);
  // the log's disk fills up: /dev/full answers every write with ENOSPC
  unlinkSync(path);
  symlinkSync('/dev/full', path);
  assert.throws(() => log.write({ images: 32 }), new RegExp(`^Error: ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: cannot append to the training log: the disk is full: free space and run again \\(ENOSPC\\)$`));
});
