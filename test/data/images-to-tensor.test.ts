import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { imagesToTensor } from '../../src/data/images-to-tensor.js';

T.setBackend(cpuBackend());

test('uint8 images become float32 in [-1, 1] with the batch shape', () => {
  const x = imagesToTensor(Uint8Array.from([0, 255, 51, 128]), [1, 1, 2, 2]);
  assert.deepEqual(x.shape, [1, 1, 2, 2]);
  assert.equal(x.dtype, 'float32');
  assert.deepEqual([...x.toFloat32Array()], [-1, 1, Math.fround(51 / 127.5 - 1), Math.fround(128 / 127.5 - 1)]);
  assert.throws(() => imagesToTensor(new Uint8Array(3), [1, 1, 2, 2]), /3 values given for shape/);
});
