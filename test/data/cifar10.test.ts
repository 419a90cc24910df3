import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadCifar10 } from '../../src/data/cifar10.js';
import { tempDir } from './temp-dir.js';

const RECORD = 3073;

/** CIFAR-10 records whose label is (first + r) % 10 and whose pixels are all (first + r) % 256. */
function records(count: number, first: number): Uint8Array {
  const bytes = new Uint8Array(count * RECORD);
  for (let r = 0; r < count; r++) {
    bytes[r * RECORD] = (first + r) % 10;
    bytes.fill((first + r) % 256, r * RECORD + 1, (r + 1) * RECORD);
  }
  return bytes;
}

test('a CIFAR-10 folder reads the training batches present, in order, with labels', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'data_batch_1.bin'), records(3, 0));
  writeFileSync(join(dir, 'data_batch_2.bin'), records(2, 3));
  writeFileSync(join(dir, 'test_batch.bin'), records(4, 100));
  const train = await loadCifar10(dir);
  assert.equal(train.length, 5);
  assert.deepEqual(train.imageShape, [3, 32, 32]);
  assert.equal(train.name, 'cifar10-train');
  assert.deepEqual([...train.getLabels!([0, 4, 3])], [0, 4, 3]);
  const batch = train.getBatch([4, 1]);
  assert.equal(batch.length, 2 * 3072);
  assert.ok(batch.subarray(0, 3072).every((v) => v === 4));
  assert.ok(batch.subarray(3072).every((v) => v === 1));
  assert.equal(train.classNames![6], 'frog');

  const testSplit = await loadCifar10(dir, { split: 'test' });
  assert.equal(testSplit.length, 4);
  assert.deepEqual([...testSplit.getLabels!([0, 1])], [0, 1]);
  const single = await loadCifar10(join(dir, 'data_batch_2.bin'));
  assert.deepEqual([...single.getLabels!([0, 1])], [3, 4]);
  const listed = await loadCifar10([join(dir, 'test_batch.bin'), join(dir, 'data_batch_1.bin')]);
  assert.equal(listed.length, 7);
  assert.throws(() => listed.getBatch([7]), /index 7 is out of range for cifar10 test_batch.bin, data_batch_1.bin \(7 images\)/);
});

test('the folder the official archive extracts to is found one level down', async () => {
  const dir = tempDir();
  mkdirSync(join(dir, 'cifar-10-batches-bin'));
  writeFileSync(join(dir, 'cifar-10-batches-bin', 'data_batch_1.bin'), records(2, 0));
  assert.equal((await loadCifar10(dir)).length, 2);
});

test('a truncated batch names the file and the record', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'data_batch_1.bin'), records(2, 0));
  writeFileSync(join(dir, 'data_batch_3.bin'), records(3, 0).subarray(0, 3 * RECORD - 1));
  await assert.rejects(loadCifar10(dir), {
    message: /^data_batch_3.bin: 9218 bytes is not a multiple of the 3073-byte CIFAR-10 record \(record 2 is truncated\)/,
  });
});

test('a label outside 0-9 and an empty file are reported', async () => {
  const dir = tempDir();
  const bad = records(3, 0);
  bad[2 * RECORD] = 42;
  writeFileSync(join(dir, 'bad.bin'), bad);
  await assert.rejects(loadCifar10(join(dir, 'bad.bin')), { message: /^bad.bin: record 2 has label 42, but CIFAR-10 labels are 0-9/ });
  writeFileSync(join(dir, 'empty.bin'), new Uint8Array(0));
  await assert.rejects(loadCifar10(join(dir, 'empty.bin')), { message: /^empty.bin: the file is empty/ });
});

test('a missing path or a folder without batches says what is missing and how to get it', async () => {
  const dir = tempDir();
  const missing = join(dir, 'nowhere');
  await assert.rejects(loadCifar10(missing), (error: Error) => {
    assert.match(error.message, /^CIFAR-10 data not found: .*nowhere does not exist\./);
    assert.match(error.message, /cifar-10-binary\.tar\.gz/);
    return true;
  });
  await assert.rejects(loadCifar10(dir), { message: /CIFAR-10 train data not found: .* has none of data_batch_1.bin, .*data_batch_5.bin/ });
  await assert.rejects(loadCifar10([join(dir, 'data_batch_9.bin')]), { message: /CIFAR-10 batch file not found: .*data_batch_9.bin does not exist/ });
});

function allIndices(count: number): Int32Array {
  return Int32Array.from({ length: count }, (_, i) => i);
}

function classCounts(labels: Int32Array): number[] {
  const counts = new Array<number>(10).fill(0);
  for (const label of labels) counts[label]++;
  return counts;
}

// The real data set, where this machine has it (the shared folder beside the repository); skipped elsewhere.
const realCifar = resolve(process.cwd(), '../shared/data/cifar10');
test('the real CIFAR-10 reads as 50000 training and 10000 test images', { skip: !existsSync(realCifar) && 'no CIFAR-10 beside the repository' }, async () => {
  const train = await loadCifar10(realCifar);
  assert.equal(train.length, 50000);
  const testSplit = await loadCifar10(realCifar, { split: 'test' });
  assert.equal(testSplit.length, 10000);
  // Every class has 5000 training and 1000 test images; the pixels average about 121, as CIFAR-10's do
  // (measured on 5000 images to keep the test quick).
  assert.deepEqual(classCounts(train.getLabels!(allIndices(50000))), new Array(10).fill(5000));
  assert.deepEqual(classCounts(testSplit.getLabels!(allIndices(10000))), new Array(10).fill(1000));
  const pixels = train.getBatch(allIndices(5000));
  const mean = pixels.reduce((sum, v) => sum + v, 0) / pixels.length;
  assert.ok(Math.abs(mean - 121) < 2, `mean pixel ${mean}`);
});
