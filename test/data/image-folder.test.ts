import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { loadImageFolder } from '../../src/data/image-folder.js';
import { tempDir } from './temp-dir.js';

type Rgba = (x: number, y: number) => [number, number, number, number];

function rgbaPixels(width: number, height: number, colour: Rgba): Buffer {
  const data = Buffer.alloc(width * height * 4);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set(colour(x, y), (y * width + x) * 4);
  return data;
}

function png(width: number, height: number, colour: Rgba, options: { colorType?: 0 | 2 | 6 } = {}): Buffer {
  const image = new PNG({ width, height, colorType: options.colorType ?? 6, inputHasAlpha: true });
  image.data = rgbaPixels(width, height, colour);
  return PNG.sync.write(image, { colorType: options.colorType ?? 6 });
}

/** A 16-bit greyscale PNG of one level (0-65535). */
function grey16Png(width: number, height: number, level: number): Buffer {
  const options = { width, height, bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false } as const;
  const image = new PNG(options);
  (image as unknown as { data: Uint16Array }).data = new Uint16Array(width * height).fill(level);
  return PNG.sync.write(image, options);
}

function jpg(width: number, height: number, colour: Rgba): Buffer {
  return jpeg.encode({ width, height, data: rgbaPixels(width, height, colour) }, 100).data;
}

/** The pixel (x, y) of image n of an NCHW RGB batch. */
function pixelAt(batch: Uint8Array, n: number, height: number, width: number, x: number, y: number): number[] {
  const plane = height * width;
  return [0, 1, 2].map((c) => batch[(n * 3 + c) * plane + y * width + x]);
}

test('PNG (colour, alpha, grey, 16-bit) and JPEG files under a folder load as RGB in sorted path order', async () => {
  const dir = tempDir();
  const gradient: Rgba = (x, y) => [10 * x, 20 * y, 200, 255];
  writeFileSync(join(dir, 'a.png'), png(4, 3, gradient));
  writeFileSync(join(dir, 'b.png'), png(4, 3, () => [90, 90, 90, 255], { colorType: 0 }));
  writeFileSync(join(dir, 'c.PNG'), png(4, 3, () => [250, 20, 30, 0], { colorType: 6 }));
  writeFileSync(join(dir, 'e16.png'), grey16Png(4, 3, 0x8000));
  mkdirSync(join(dir, 'sub'));
  writeFileSync(join(dir, 'sub', 'd.jpg'), jpg(4, 3, () => [40, 160, 80, 255]));
  writeFileSync(join(dir, 'notes.txt'), 'not an image');
  const images = await loadImageFolder(dir);
  assert.equal(images.length, 5);
  assert.deepEqual(images.imageShape, [3, 3, 4]);
  assert.equal(images.getLabels, undefined);
  const batch = images.getBatch([0, 1, 2, 3, 4]);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 4; x++) assert.deepEqual(pixelAt(batch, 0, 3, 4, x, y), gradient(x, y).slice(0, 3));
  assert.deepEqual(pixelAt(batch, 1, 3, 4, 2, 1), [90, 90, 90]);
  // Fully transparent pixels keep their colour: alpha is dropped, not composited.
  assert.deepEqual(pixelAt(batch, 2, 3, 4, 0, 0), [250, 20, 30]);
  // 16 bits are scaled to 8: 0x8000 of 0xffff is 128 of 255.
  assert.deepEqual(pixelAt(batch, 3, 3, 4, 3, 2), [128, 128, 128]);
  // JPEG is lossy even at quality 100; a flat colour comes back within a few levels.
  const jpegPixel = pixelAt(batch, 4, 3, 4, 1, 1);
  [40, 160, 80].forEach((v, c) => assert.ok(Math.abs(jpegPixel[c] - v) <= 3, `JPEG channel ${c}: ${jpegPixel[c]} vs ${v}`));
});

test('images of different sizes are an error naming both files, unless resized', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'a.png'), png(8, 8, () => [200, 100, 50, 255]));
  writeFileSync(join(dir, 'b.png'), png(16, 12, () => [10, 20, 30, 255]));
  await assert.rejects(loadImageFolder(dir), {
    message: 'b.png is 16x12 but a.png is 8x8 (width x height); all images must have one size, or pass a resize option to resize them',
  });
  const resized = await loadImageFolder(dir, { resize: 4 });
  assert.deepEqual(resized.imageShape, [3, 4, 4]);
  const batch = resized.getBatch([0, 1]);
  // A flat colour stays that colour at any size.
  for (let y = 0; y < 4; y++) {
    for (let x = 0; x < 4; x++) {
      assert.deepEqual(pixelAt(batch, 0, 4, 4, x, y), [200, 100, 50]);
      assert.deepEqual(pixelAt(batch, 1, 4, 4, x, y), [10, 20, 30]);
    }
  }
});

test('resizing averages when shrinking and interpolates when enlarging', async () => {
  const dir = tempDir();
  // Columns alternate black and white: halving the width must give mid-grey, not one of the two.
  writeFileSync(join(dir, 'stripes.png'), png(8, 2, (x) => (x % 2 ? [255, 255, 255, 255] : [0, 0, 0, 255])));
  const halved = (await loadImageFolder(dir, { resize: [2, 4] })).getBatch([0]);
  for (let x = 0; x < 4; x++) assert.ok(Math.abs(pixelAt(halved, 0, 2, 4, x, 0)[0] - 128) <= 40, `column ${x}: ${pixelAt(halved, 0, 2, 4, x, 0)[0]}`);
  const ramp = tempDir();
  writeFileSync(join(ramp, 'ramp.png'), png(2, 1, (x) => (x ? [200, 200, 200, 255] : [0, 0, 0, 255])));
  const row = (await loadImageFolder(ramp, { resize: [1, 8] })).getBatch([0]).subarray(0, 8);
  assert.equal(row[0], 0);
  assert.equal(row[7], 200);
  for (let x = 1; x < 8; x++) assert.ok(row[x] >= row[x - 1], `not monotonic: ${[...row]}`);
  assert.ok(row[3] > 0 && row[3] < 200 && row[4] > 0 && row[4] < 200, `no interpolation: ${[...row]}`);
});

test('a corrupt image, an empty folder and a missing folder are clear errors', async () => {
  const dir = tempDir();
  writeFileSync(join(dir, 'a.png'), png(4, 4, () => [1, 2, 3, 255]));
  writeFileSync(join(dir, 'broken.png'), png(4, 4, () => [1, 2, 3, 255]).subarray(0, 40));
  await assert.rejects(loadImageFolder(dir), { message: /^broken.png: not a readable PNG image/ });
  const empty = tempDir();
  writeFileSync(join(empty, 'readme.txt'), 'nothing here');
  await assert.rejects(loadImageFolder(empty), { message: /^no images in .*: it has no \.png, \.jpg, \.jpeg files/ });
  await assert.rejects(loadImageFolder(join(empty, 'nowhere')), { message: /^image folder not found: .*nowhere does not exist\. Pass a folder/ });
  await assert.rejects(loadImageFolder(dir, { resize: 0 }), { message: /resize must be positive whole pixels, got 0x0/ });
});
