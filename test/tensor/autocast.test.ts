/**
 * Autocast on the CPU backend, which computes in fp32 only: a no-op, so results and gradients are the
 * same bits as without it. (Its bf16 numerics are checked on the GPU in cuda-conformance.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import * as T from '../../src/tensor/index.js';
import { randomArray } from '../helpers/gradcheck.js';

T.setBackend(cpuBackend());

/** conv2d (with bias) then linear, and the gradients of every input. */
function convLinear(): Float32Array[] {
  return T.tidy(() => {
    const leaf = (shape: number[], seed: number) => {
      const t = T.fromArray(randomArray(shape.reduce((a, b) => a * b, 1), seed, true), shape);
      t.requiresGrad = true;
      return t;
    };
    const x = leaf([2, 3, 6, 6], 1);
    const w = leaf([4, 3, 3, 3], 2);
    const b = leaf([4], 3);
    const wl = leaf([5, 36], 4);
    const h = T.conv2d(x, w, b, { pad: 1, stride: 2 });
    const y = T.linear(T.reshape(h, [2, 36]), wl, null);
    T.backward(T.sum(T.square(y)));
    return [y, x.grad!, w.grad!, b.grad!, wl.grad!].map((t) => t.toArray() as Float32Array);
  });
}

test('autocast is a no-op on the CPU backend: same outputs and gradients, bit for bit', () => {
  assert.equal(T.autocastDtype(T.getBackend()), null);
  const want = convLinear();
  const got = T.withAutocast('bfloat16', () => {
    assert.equal(T.autocastDtype(T.getBackend()), null);
    return convLinear();
  });
  got.forEach((g, i) => assert.deepEqual(g, want[i]));
});

test('withAutocast restores the previous setting, also when fn throws', () => {
  const gpuLike = { ...cpuBackend(), autocastDtypes: ['bfloat16'] } as const;
  assert.equal(T.autocastDtype(gpuLike), null);
  T.withAutocast('bfloat16', () => {
    assert.equal(T.autocastDtype(gpuLike), 'bfloat16');
    assert.throws(() => T.withAutocast(null, () => {
      assert.equal(T.autocastDtype(gpuLike), null);
      throw new Error('inner');
    }), /inner/);
    assert.equal(T.autocastDtype(gpuLike), 'bfloat16');
  });
  assert.equal(T.autocastDtype(gpuLike), null);
});
