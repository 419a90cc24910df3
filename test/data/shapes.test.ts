import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapesDataset, SHAPE_CLASS_NAMES } from '../../src/data/shapes.js';

const indices = Int32Array.from({ length: 64 }, (_, i) => i);

test('the same seed gives the same bytes; another seed gives other images', () => {
  const a = new ShapesDataset({ seed: 3, size: 16 }).getBatch(indices);
  const b = new ShapesDataset({ seed: 3, size: 16 }).getBatch(indices);
  const c = new ShapesDataset({ seed: 4, size: 16 }).getBatch(indices);
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('image i depends on (seed, i) only, not on the length or the batch it is asked in', () => {
  const short = new ShapesDataset({ seed: 9, length: 10 });
  const long = new ShapesDataset({ seed: 9, length: 1_000_000 });
  const bytes = 3 * 32 * 32;
  const batch = long.getBatch([7, 2]);
  assert.deepEqual(batch.subarray(0, bytes), short.getBatch([7]));
  assert.deepEqual(batch.subarray(bytes), short.getBatch([2]));
  assert.deepEqual([...long.getLabels([7, 2])], [...short.getLabels([7, 2])]);
  assert.equal(long.getBatch([999_999]).length, bytes);
  assert.throws(() => short.getBatch([10]), /index 10 is out of range for shapes32 \(10 images\)/);
});

test('every class appears, and each image is one bright shape on a dark plain background', () => {
  for (const size of [16, 32]) {
    const shapes = new ShapesDataset({ seed: 1, size });
    assert.deepEqual(shapes.imageShape, [3, size, size]);
    const labels = shapes.getLabels(indices);
    assert.deepEqual(new Set(labels), new Set(SHAPE_CLASS_NAMES.map((_, k) => k)));
    const batch = shapes.getBatch(indices);
    const plane = size * size;
    for (let n = 0; n < indices.length; n++) {
      const image = batch.subarray(n * 3 * plane, (n + 1) * 3 * plane);
      const brightness = (p: number) => image[p] + image[plane + p] + image[2 * plane + p];
      // Corners lie outside every shape, so they show the background.
      const background = brightness(0);
      assert.equal(brightness(plane - 1), background);
      let shapePixels = 0;
      for (let p = 0; p < plane; p++) if (brightness(p) > background + 90) shapePixels++;
      const share = shapePixels / plane;
      assert.ok(share > 0.06 && share < 0.7, `${SHAPE_CLASS_NAMES[labels[n]]} ${n} at ${size}px covers ${share} of the image`);
    }
  }
});

test('bad options are refused up front', () => {
  assert.throws(() => new ShapesDataset({ size: 4 }), /size must be an integer of at least 8 pixels, got 4/);
  assert.throws(() => new ShapesDataset({ length: 0 }), /length must be a positive integer, got 0/);
  assert.throws(() => new ShapesDataset({ seed: -1 }), /seed must be a non-negative integer/);
});
