/** The CPU kernels' exp (exp.ts) against Math.exp: its accuracy, and its ends in float32. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { exp } from '../../src/backend/cpu/exp.js';

test('exp is within 3e-10 relative of Math.exp from -708 to 709, and float32 roundings differ rarely', () => {
  let worst = 0;
  let roundingsDiffering = 0;
  const count = 200_001;
  for (let i = 0; i < count; i++) {
    // An irregular grid: every remainder of the range reduction is hit, not only multiples of ln 2.
    const v = -708 + (1417 * i) / (count - 1) + 1e-3 * Math.sin(i);
    const expected = Math.exp(v);
    worst = Math.max(worst, Math.abs(exp(v) - expected) / expected);
    if (Math.fround(exp(v)) !== Math.fround(expected)) roundingsDiffering++;
  }
  assert.ok(worst < 3e-10, `worst relative error ${worst}`);
  assert.ok(roundingsDiffering < count / 1000, `${roundingsDiffering} of ${count} float32 roundings differ from Math.exp's`);
  assert.equal(exp(0), 1);
  assert.equal(Math.fround(exp(1)), Math.fround(Math.E));
});

test('exp is 0 and Infinity in float32 far out, and NaN for NaN', () => {
  for (const v of [-1e30, -Infinity, -750, -709]) assert.equal(Math.fround(exp(v)), 0, `exp(${v})`);
  for (const v of [1e30, Infinity, 750, 710]) assert.equal(Math.fround(exp(v)), Infinity, `exp(${v})`);
  for (const v of [-103.9, -50, 50, 88.7]) assert.equal(Math.fround(exp(v)), Math.fround(Math.exp(v)), `exp(${v})`);
  assert.ok(Number.isNaN(exp(NaN)));
});
