/** The CPU backend's float32 SiLU (silu.ts): its WebAssembly SIMD path against its TypeScript functions, and both against float64. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silu32, siluBackwardRange, siluGrad32, siluRange, siluSimd } from '../../src/backend/cpu/silu.js';

/** An irregular sweep of [-120, 120] (every remainder of the range reduction), the ends of float32, and an odd length (a partial group of four). */
function inputs(): { x: Float32Array; dy: Float32Array } {
  const special = [0, -0, Infinity, -Infinity, NaN, 1e-40, -1e-40, 1e-30, -103.5, -103.2, -102.9, -87.5, 88.5, 3.4e38, -3.4e38];
  const n = 100_003;
  const x = new Float32Array(n);
  const dy = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    x[i] = i < special.length ? special[i] : (i / n - 0.5) * 240 + Math.sin(i);
    dy[i] = Math.cos(i);
  }
  return { x, dy };
}

const same = (a: number, b: number): boolean => Object.is(a, b) || (Number.isNaN(a) && Number.isNaN(b));

test('the SIMD path (where the runtime has it) gives the bits of the TypeScript functions, forward and backward', () => {
  assert.ok(siluSimd, 'Node 20 has WebAssembly SIMD: the fast path should be in use');
  const { x, dy } = inputs();
  const y = new Float32Array(x.length);
  const dx = new Float32Array(x.length);
  // from an offset, so a block does not start at element 0
  siluRange(x, y, 3, x.length);
  siluBackwardRange(x, dy, dx, 3, x.length);
  for (let i = 3; i < x.length; i++) {
    assert.ok(same(y[i], silu32(x[i])), `silu(${x[i]}): ${y[i]} against ${silu32(x[i])}`);
    assert.ok(same(dx[i], siluGrad32(x[i], dy[i])), `silu'(${x[i]}): ${dx[i]} against ${siluGrad32(x[i], dy[i])}`);
  }
  // (x there is 0, -0 and Infinity: written, y would hold -0 and Infinity, dx NaN)
  assert.deepEqual([...y.subarray(0, 3), ...dx.subarray(0, 3)], [0, 0, 0, 0, 0, 0], 'elements before start are left alone');
});

test('float32 SiLU is within 2.5e-7 relative of float64 (1 ulp or so) where sigmoid is a normal float32 (v > -87), its gradient within 2e-6 of |dy|', () => {
  const { x, dy } = inputs();
  let worst = 0;
  let worstGrad = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    if (!Number.isFinite(v)) continue;
    const s = 1 / (1 + Math.exp(-v));
    const expected = v * s;
    // Left of -87 sigmoid is a subnormal, rounded to its spacing (1.4e-45), then multiplied by v (up to
    // 103; beyond, it is 0): there SiLU is within 2e-43 of float64's (and of 0).
    const tolerance = v > -87 ? 2.5e-7 * Math.abs(expected) : 2e-43;
    const error = Math.abs(silu32(v) - expected);
    if (v > -87 && expected !== 0) worst = Math.max(worst, error / Math.abs(expected));
    assert.ok(error <= tolerance, `silu(${v}) = ${silu32(v)}, float64 ${expected}`);
    const gradError = Math.abs(siluGrad32(v, dy[i]) - dy[i] * s * (1 + v * (1 - s)));
    worstGrad = Math.max(worstGrad, gradError / Math.abs(dy[i]));
  }
  assert.ok(worst < 2.5e-7, `worst relative error ${worst}`);
  assert.ok(worstGrad < 2e-6, `worst gradient error ${worstGrad} of |dy|`);
});

test('SiLU at the ends: 0 at 0, the identity far right, 0 far left, NaN for NaN', () => {
  assert.ok(Object.is(silu32(0), 0) && Object.is(silu32(-0), -0));
  assert.equal(siluGrad32(0, 1), 0.5);
  for (const v of [20, 88.5, 1e10, 3.4e38, Infinity]) assert.equal(silu32(v), Math.fround(v), `silu(${v})`);
  for (const v of [-104, -1e10, -3.4e38]) assert.ok(Object.is(silu32(v), -0), `silu(${v}) = ${silu32(v)}`);
  assert.ok(Number.isNaN(silu32(NaN)) && Number.isNaN(siluGrad32(NaN, 1)));
});
