/**
 * The inference-only ops of the evaluation feature networks on the CPU backend: max and average pooling
 * (count_include_pad=False), eval batch norm (+ReLU), bilinear resizing (align_corners=False). Checked
 * against values worked out by hand or printed by PyTorch 1.13 (F.interpolate in float64), and against
 * the definitions in float64; a backward pass through any of them is an error that names it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { assertClose, randomArray } from '../helpers/gradcheck.js';

T.setBackend(cpuBackend());

const tensor = (data: readonly number[], shape: number[]): T.Tensor => T.fromArray(Float32Array.from(data), shape);
const values = (t: T.Tensor): number[] => [...t.toFloat32Array()];

test('avgPool2d 3x3, stride 1, padding 1 averages only the positions inside the image', () => {
  const x = tensor([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  // corners: 4 positions; edges: 6; the centre: 9
  assertClose(values(T.avgPool2d(x, 3, 1, 1)), [3, 3.5, 4, 4.5, 5, 5.5, 6, 6.5, 7], 1e-7);
});

test('maxPool2d: 3x3 stride 2 (the stem), 3x3 stride 1 padding 1 (the last block), NaN passes', () => {
  const x = tensor(Array.from({ length: 25 }, (_, i) => (i * 7) % 11), [1, 1, 5, 5]);
  // rows 0 7 3 10 6 / 2 9 5 1 8 / 4 0 7 3 10 / 6 2 9 5 1 / 8 4 0 7 3: windows at rows and columns 0 and 2
  assert.deepEqual(values(T.maxPool2d(x, 3, 2)), [9, 10, 9, 10]);
  const small = tensor([1, 5, 2, 4, -1, 3], [1, 1, 2, 3]);
  assert.deepEqual(values(T.maxPool2d(small, 3, 1, 1)), [5, 5, 5, 5, 5, 5]);
  const withNaN = tensor([1, NaN, 2, 4, -1, 3], [1, 1, 2, 3]);
  assert.ok(values(T.maxPool2d(withNaN, 3, 1, 1)).every(Number.isNaN));
});

test('pooling of several planes and odd sizes matches the definition in float64', () => {
  const [n, c, h, w] = [2, 3, 7, 6];
  const data = randomArray(n * c * h * w, 7);
  const x = T.fromArray(data, [n, c, h, w]);
  for (const [mode, k, s, p] of [['max', 3, 2, 0], ['avg', 3, 1, 1], ['avg', 2, 2, 1], ['max', 3, 1, 1]] as const) {
    const y = mode === 'max' ? T.maxPool2d(x, k, s, p) : T.avgPool2d(x, k, s, p);
    const [hOut, wOut] = [Math.floor((h + 2 * p - k) / s) + 1, Math.floor((w + 2 * p - k) / s) + 1];
    assert.deepEqual(y.shape, [n, c, hOut, wOut]);
    const want: number[] = [];
    for (let plane = 0; plane < n * c; plane++)
      for (let oy = 0; oy < hOut; oy++)
        for (let ox = 0; ox < wOut; ox++) {
          const inside: number[] = [];
          for (let dy = 0; dy < k; dy++)
            for (let dx = 0; dx < k; dx++) {
              const [iy, ix] = [oy * s - p + dy, ox * s - p + dx];
              if (iy >= 0 && iy < h && ix >= 0 && ix < w) inside.push(data[(plane * h + iy) * w + ix]);
            }
          want.push(mode === 'max' ? Math.max(...inside) : inside.reduce((a, b) => a + b, 0) / inside.length);
        }
    assertClose(values(y), want, 1e-6);
  }
});

test('interpolateBilinear matches PyTorch (align_corners=False): up, down, and unequal axes', () => {
  const up = T.interpolateBilinear(tensor([1, 2, 3, 4], [1, 1, 2, 2]), 4, 4);
  assertClose(values(up), [1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75, 3.25, 3.5, 3, 3.25, 3.75, 4], 1e-7);
  const down = T.interpolateBilinear(tensor(Array.from({ length: 25 }, (_, i) => i % 7), [1, 1, 5, 5]), 3, 3);
  assertClose(values(down), [2, 4 / 3, 3, 10 / 3, 5, 2, 28 / 9, 5 / 3, 10 / 3], 1e-6);
  const mixed = T.interpolateBilinear(tensor(Array.from({ length: 12 }, (_, i) => i ** 1.5 / 4), [1, 1, 3, 4]), 5, 2);
  const torch = [0.125, 1.0030724434316027, 1.0340169943749473, 2.262703347766522, 2.3975424859373686, 4.152149704268901, 4.6810732692226615, 6.7687835788770485, 6.20342712474619, 8.51320616194915];
  assertClose(values(mixed), torch, 1e-6);
});

test('batchNormEval is (x - mean) / sqrt(var + eps) * gamma + beta per channel, with ReLU when asked', () => {
  const [n, c, hw] = [2, 3, 5];
  const x = randomArray(n * c * hw, 11);
  const stats = { mean: [0.5, -0.25, 0.1], variance: [0.8, 2.5, 0.04], gamma: [1.5, -0.7, 0.3], beta: [0.2, 0.1, -0.4] };
  const eps = 1e-3;
  const want = Array.from(x, (v, i) => {
    const ch = Math.floor(i / hw) % c;
    return ((v - stats.mean[ch]) / Math.sqrt(stats.variance[ch] + eps)) * stats.gamma[ch] + stats.beta[ch];
  });
  const args = [stats.mean, stats.variance, stats.gamma, stats.beta].map((s) => tensor(s, [c])) as [T.Tensor, T.Tensor, T.Tensor, T.Tensor];
  const input = T.fromArray(x, [n, c, 1, hw]);
  assertClose(values(T.batchNormEval(input, ...args, eps)), want, 1e-6);
  assertClose(values(T.batchNormEval(input, ...args, eps, true)), want.map((v) => Math.max(v, 0)), 1e-6);
});

test('a backward pass through an inference-only op is an error naming it', () => {
  const x = T.fromArray(randomArray(2 * 3 * 6 * 6, 3), [2, 3, 6, 6]);
  x.requiresGrad = true;
  const c = () => T.ones([3]);
  const ops: [string, () => T.Tensor][] = [
    ['maxPool2d', () => T.maxPool2d(x, 3, 2)],
    ['avgPool2d', () => T.avgPool2d(x, 3, 1, 1)],
    ['interpolateBilinear', () => T.interpolateBilinear(x, 9, 9)],
    ['batchNormEval\\+ReLU', () => T.batchNormEval(x, c(), c(), c(), c(), 1e-3, true)],
  ];
  for (const [name, op] of ops) assert.throws(() => T.backward(T.sum(op())), new RegExp(`${name} is inference only.*no backward pass`));
});
