/**
 * A group norm slice's float64 sums and input gradient in WebAssembly SIMD (groupnorm-simd.ts) against
 * their TypeScript twins, bit for bit, on the slice sizes of the quickstart's levels; and the moments
 * against sums in a different order (the exact mean and variance to float64 rounding).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type SliceBackward, backwardInTypeScript, groupNormSimd, momentsInTypeScript, sliceBackward, sliceMoments } from '../../src/backend/cpu/groupnorm-simd.js';
import { randomArray } from '../helpers/gradcheck.js';

const shapes: [channels: number, hw: number][] = [
  [4, 256],
  [8, 64],
  [8, 16],
  [16, 4],
];

test('slice moments in SIMD give the bits of the TypeScript twin, and the float64 mean and variance', () => {
  assert.ok(groupNormSimd, 'Node 20 has WebAssembly SIMD: the module should load');
  for (const [channels, hw] of shapes) {
    const count = channels * hw;
    // an offset start, values with a large common part (the two-pass variance's case)
    const x = randomArray(count + 3, channels + hw).map((v, i) => (i < 3 ? 0 : 100 + v));
    const simd = sliceMoments(x, 3, count, hw);
    const ts = momentsInTypeScript(x, 3, count);
    assert.ok(Object.is(simd.mu, ts.mu) && Object.is(simd.squares, ts.squares), `${channels}x${hw}: ${JSON.stringify(simd)} against ${JSON.stringify(ts)}`);
    const slice = Array.from(x.subarray(3));
    const mean = slice.reduce((a, v) => a + v, 0) / count;
    const squares = slice.reduce((a, v) => a + (v - mean) ** 2, 0);
    assert.ok(Math.abs(simd.mu - mean) <= 1e-13 * Math.abs(mean), `${channels}x${hw}: mean ${simd.mu} against ${mean}`);
    assert.ok(Math.abs(simd.squares - squares) <= 1e-10 * squares, `${channels}x${hw}: squares ${simd.squares} against ${squares}`);
  }
});

test('a slice backward in SIMD gives the bits of the TypeScript twin: dx and each channel\'s sums', () => {
  for (const [channels, hw] of shapes) {
    const count = channels * hw;
    const x = randomArray(2 * count, 1);
    const g = randomArray(count + 5, 2);
    const gamma = randomArray(channels + 2, 3);
    const run = (backward: (a: SliceBackward) => void): { dx: Float32Array; gSums: Float64Array; gXhatSums: Float64Array } => {
      const out = { dx: new Float32Array(2 * count).fill(NaN), gSums: new Float64Array(channels + 1), gXhatSums: new Float64Array(channels + 1) };
      backward({ x, g, gStart: 5, start: count, channels, hw, mu: 0.0625, r: 1.75, gamma, firstChannel: 2, sumsOffset: 1, ...out });
      return out;
    };
    const simd = run(sliceBackward);
    const ts = run(backwardInTypeScript);
    for (const key of ['dx', 'gSums', 'gXhatSums'] as const) {
      const at = simd[key].findIndex((v, i) => !Object.is(v, ts[key][i]));
      assert.equal(at, -1, `${channels}x${hw} ${key}[${at}]: ${simd[key][at]} against ${ts[key][at]}`);
    }
    assert.ok(simd.dx.subarray(count).every(Number.isFinite), `${channels}x${hw}: dx written over the slice`);
  }
});
