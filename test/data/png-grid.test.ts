import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { imageGrid, toUint8 } from '../../src/data/grid.js';
import { writePngGrid } from '../../src/data/png.js';

T.setBackend(cpuBackend());

test('pixel values map [-1, 1] to 0..255 as EDM writes them (clipped outside)', () => {
  assert.deepEqual([-2, -1, -0.5, 0, 0.5, 1, 3].map(toUint8), [0, 0, 64, 128, 191, 255, 255]);
});

test('a PNG grid round-trips through pngjs: layout, channels, padding', () => {
  // 5 RGB images of 2 x 3 pixels; image n, channel c, pixel (y, x) holds a value that identifies all four.
  const [b, c, h, w] = [5, 3, 2, 3];
  const value = (n: number, k: number, y: number, x: number) => -1 + (n * 18 + k * 6 + y * 3 + x) / 45;
  const data = new Float32Array(b * c * h * w);
  for (let n = 0; n < b; n++) for (let k = 0; k < c; k++) for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data[((n * c + k) * h + y) * w + x] = value(n, k, y, x);
  const dir = mkdtempSync(join(tmpdir(), 'stagediff-png-'));
  try {
    const path = join(dir, 'grid.png');
    writePngGrid(path, T.fromArray(data, [b, c, h, w]), { columns: 2, padding: 1, scale: 1 });
    const png = PNG.sync.read(readFileSync(path));
    assert.equal(png.width, 2 * (w + 1) + 1);
    assert.equal(png.height, 3 * (h + 1) + 1);
    const at = (px: number, py: number) => Array.from(png.data.subarray((py * png.width + px) * 4, (py * png.width + px) * 4 + 4));
    for (let n = 0; n < b; n++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const px = 1 + (n % 2) * (w + 1) + x;
          const py = 1 + Math.floor(n / 2) * (h + 1) + y;
          assert.deepEqual(at(px, py), [0, 1, 2].map((k) => toUint8(Math.fround(value(n, k, y, x)))).concat(255), `image ${n} pixel (${y}, ${x})`);
        }
      }
    }
    assert.deepEqual(at(0, 0), [0, 0, 0, 255]);
    assert.deepEqual(at(png.width - 2, png.height - 2), [0, 0, 0, 255], 'the empty sixth cell stays background');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('grey images fill all three colour channels; other channel counts are refused', () => {
  const grid = imageGrid(T.fromArray([-1, 0, 0.5, 1], [1, 1, 2, 2]), { padding: 0, scale: 1 });
  assert.deepEqual([grid.width, grid.height], [2, 2]);
  assert.deepEqual(Array.from(grid.data), [0, 0, 0, 255, 128, 128, 128, 255, 191, 191, 191, 255, 255, 255, 255, 255]);
  assert.throws(() => imageGrid(T.zeros([4, 2, 1, 1])), /1 or 3 channels/);
});

test('small images are magnified by nearest neighbour so a grid is readable', () => {
  const grid = imageGrid(T.fromArray([-1, 1, 1, -1], [1, 1, 2, 2]), { padding: 0, scale: 3 });
  assert.equal(grid.width, 6);
  assert.equal(grid.height, 6);
  const red = (x: number, y: number) => grid.data[(y * 6 + x) * 4];
  assert.deepEqual([red(0, 0), red(2, 2), red(3, 0), red(5, 2), red(0, 3), red(3, 3)], [0, 0, 255, 255, 255, 0]);
  assert.equal(imageGrid(T.zeros([1, 3, 16, 16]), { padding: 0 }).width, 48, 'default scale shows 16-pixel images at 48 pixels');
});
