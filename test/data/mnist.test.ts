import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadMnist } from '../../src/data/mnist.js';
import { tempDir } from './temp-dir.js';

/** An unsigned-byte IDX file: magic 0x000008<dims>, big-endian sizes, then the data. */
function idx(dims: number[], data: Uint8Array): Uint8Array {
  const header = new DataView(new ArrayBuffer(4 + 4 * dims.length));
  header.setUint32(0, 0x800 + dims.length);
  dims.forEach((size, d) => header.setUint32(4 + 4 * d, size));
  const file = new Uint8Array(header.byteLength + data.length);
  file.set(new Uint8Array(header.buffer));
  file.set(data, header.byteLength);
  return file;
}

/** Three 4x5 images; image n has pixel (y, x) = 100 n + 10 y + x. */
const COUNT = 3;
const HEIGHT = 4;
const WIDTH = 5;
const pixels = Uint8Array.from({ length: COUNT * HEIGHT * WIDTH }, (_, i) => 100 * Math.floor(i / 20) + 10 * Math.floor((i % 20) / WIDTH) + (i % WIDTH));
const images = idx([COUNT, HEIGHT, WIDTH], pixels);
const labels = idx([COUNT], Uint8Array.from([7, 0, 9]));

test('plain and gzip-compressed IDX files read the same, one channel, with labels found beside them', async () => {
  const plain = tempDir();
  writeFileSync(join(plain, 'train-images-idx3-ubyte'), images);
  writeFileSync(join(plain, 'train-labels-idx1-ubyte'), labels);
  const gzipped = tempDir();
  writeFileSync(join(gzipped, 'train-images-idx3-ubyte.gz'), gzipSync(images));
  writeFileSync(join(gzipped, 'train-labels-idx1-ubyte.gz'), gzipSync(labels));
  for (const dir of [plain, gzipped]) {
    const mnist = await loadMnist(dir);
    assert.equal(mnist.length, COUNT);
    assert.deepEqual(mnist.imageShape, [1, HEIGHT, WIDTH]);
    assert.deepEqual([...mnist.getBatch([2, 0])], [...pixels.subarray(40, 60), ...pixels.subarray(0, 20)]);
    assert.deepEqual([...mnist.getLabels!([0, 1, 2])], [7, 0, 9]);
    assert.equal(mnist.classNames!.length, 10);
  }
});

test('an images file given directly has no labels unless a labels file is named; padding centres the image', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'imgs.idx3'), images);
  writeFileSync(join(dir, 'labs.idx1'), labels);
  const unlabelled = await loadMnist(join(dir, 'imgs.idx3'));
  assert.equal(unlabelled.getLabels, undefined);
  const padded = await loadMnist(join(dir, 'imgs.idx3'), { labels: join(dir, 'labs.idx1'), padTo: 8 });
  assert.deepEqual(padded.imageShape, [1, 8, 8]);
  assert.deepEqual([...padded.getLabels!([1])], [0]);
  const image = padded.getBatch([1]);
  // 4x5 in 8x8: 2 rows above, 1 column to the left.
  for (let y = 0; y < 8; y++) {
    for (let x = 0; x < 8; x++) {
      const inside = y >= 2 && y < 6 && x >= 1 && x < 6;
      assert.equal(image[y * 8 + x], inside ? 100 + 10 * (y - 2) + (x - 1) : 0, `pixel (${y}, ${x})`);
    }
  }
  await assert.rejects(loadMnist(join(dir, 'imgs.idx3'), { padTo: 3 }), { message: /padTo 3 is smaller than the 4x5 MNIST images/ });
});

test('wrong magic numbers, truncation and damaged gzip name the file and what is wrong', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'labels-as-images'), labels);
  await assert.rejects(loadMnist(join(dir, 'labels-as-images')), {
    message: 'labels-as-images: IDX file has 1 dimension(s) but a file of images has 3 (magic 0x00000801, expected 0x00000803)',
  });
  writeFileSync(join(dir, 'not-idx.png'), Uint8Array.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 0]));
  await assert.rejects(loadMnist(join(dir, 'not-idx.png')), { message: /^not-idx.png: magic number 0x89504e47 is not an IDX file/ });
  const floats = images.slice();
  floats[2] = 0x0d;
  writeFileSync(join(dir, 'floats'), floats);
  await assert.rejects(loadMnist(join(dir, 'floats')), { message: /^floats: IDX element type 0xd \(float32\); expected 0x08/ });
  writeFileSync(join(dir, 'short'), images.subarray(0, images.length - 25));
  await assert.rejects(loadMnist(join(dir, 'short')), {
    message: 'short: the header says 3x4x5 (60 bytes of data) but 35 bytes follow it (image 1 is truncated)',
  });
  writeFileSync(join(dir, 'short.gz'), gzipSync(images).subarray(0, 30));
  await assert.rejects(loadMnist(join(dir, 'short.gz')), { message: /^short.gz: the gzip data is damaged or truncated/ });
  writeFileSync(join(dir, 'two-labels'), idx([2], Uint8Array.from([1, 2])));
  writeFileSync(join(dir, 'good'), images);
  await assert.rejects(loadMnist(join(dir, 'good'), { labels: join(dir, 'two-labels') }), { message: /two-labels: 2 labels for the 3 images of/ });
});

test('a missing path or a folder without the standard files says what is missing', async () => {
  const dir = tempDir();
  await assert.rejects(loadMnist(join(dir, 'nowhere')), { message: /^MNIST data not found: .*nowhere does not exist\. Download/ });
  await assert.rejects(loadMnist(dir, { split: 'test' }), { message: /^MNIST t10k images not found: .* has no t10k-images-idx3-ubyte \(or \.gz\)/ });
  writeFileSync(join(dir, 'images'), images);
  await assert.rejects(loadMnist(join(dir, 'images'), { labels: join(dir, 'nope') }), { message: /^MNIST labels file not found: .*nope does not exist/ });
});
