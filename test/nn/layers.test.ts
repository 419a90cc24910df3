import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Conv2d, Dropout, FourierEmbedding, GroupNorm, PositionalEmbedding, UNetBlock, weightInit } from '../../src/nn/index.js';
import { assertClose, gradCheck, randomArray } from '../helpers/gradcheck.js';
import { randomizeParameters } from '../models/random-weights.js';

T.setBackend(cpuBackend());

interface Img {
  data: Float64Array;
  shape: [number, number, number, number];
}

/** PyTorch's conv2d (groups, stride, zero padding) in float64. w: [O, C/groups, k, k]. */
function conv(x: Img, w: Float64Array, o: number, k: number, stride: number, pad: number, groups = 1): Img {
  const [n, c, h, wd] = x.shape;
  const ho = Math.floor((h + 2 * pad - k) / stride) + 1;
  const wo = Math.floor((wd + 2 * pad - k) / stride) + 1;
  const cg = c / groups;
  const og = o / groups;
  const out = new Float64Array(n * o * ho * wo);
  for (let b = 0; b < n; b++) for (let oc = 0; oc < o; oc++) for (let y = 0; y < ho; y++) for (let xx = 0; xx < wo; xx++) {
    let s = 0;
    const g = Math.floor(oc / og);
    for (let ci = 0; ci < cg; ci++) for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
      const iy = y * stride - pad + ky;
      const ix = xx * stride - pad + kx;
      if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
      s += x.data[((b * c + g * cg + ci) * h + iy) * wd + ix] * w[((oc * cg + ci) * k + ky) * k + kx];
    }
    out[((b * o + oc) * ho + y) * wo + xx] = s;
  }
  return { data: out, shape: [n, o, ho, wo] };
}

/** PyTorch's depthwise conv_transpose2d (groups = channels, one filter per channel), stride 2, in float64. */
function depthwiseTransposed(x: Img, f: Float64Array, k: number, pad: number): Img {
  const [n, c, h, wd] = x.shape;
  const ho = (h - 1) * 2 - 2 * pad + k;
  const wo = (wd - 1) * 2 - 2 * pad + k;
  const out = new Float64Array(n * c * ho * wo);
  for (let b = 0; b < n * c; b++) for (let i = 0; i < h; i++) for (let j = 0; j < wd; j++) for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
    const y = i * 2 - pad + ky;
    const xx = j * 2 - pad + kx;
    if (y >= 0 && y < ho && xx >= 0 && xx < wo) out[(b * ho + y) * wo + xx] += x.data[(b * h + i) * wd + j] * f[ky * k + kx];
  }
  return { data: out, shape: [n, c, ho, wo] };
}

/** EDM's Conv2d.forward, op by op, in float64. */
function edmConv(x: Img, layer: Conv2d): Float64Array {
  const taps = layer.resampleTaps;
  const fk = taps.length;
  const sum = taps.reduce((a, b) => a + b, 0);
  const f = Float64Array.from(taps.flatMap((a) => taps.map((b) => (a * b) / (sum * sum))));
  const w = layer.weight ? Float64Array.from(layer.weight.toFloat32Array()) : null;
  const k = layer.kernel;
  const o = layer.outChannels;
  const wPad = w ? k >> 1 : 0;
  const fPad = (fk - 1) >> 1;
  const depthwise = (v: Img, pad: number): Img => {
    const perChannel = new Float64Array(v.shape[1] * f.length);
    for (let ch = 0; ch < v.shape[1]; ch++) perChannel.set(f, ch * f.length);
    return conv(v, perChannel, v.shape[1], fk, 2, pad, v.shape[1]);
  };
  const up4 = f.map((v) => 4 * v);
  if (layer.fusedResample && layer.up && w) x = conv(depthwiseTransposed(x, up4, fk, Math.max(fPad - wPad, 0)), w, o, k, 1, Math.max(wPad - fPad, 0));
  else if (layer.fusedResample && layer.down && w) x = depthwise(conv(x, w, o, k, 1, wPad + fPad), 0);
  else {
    if (layer.up) x = depthwiseTransposed(x, up4, fk, fPad);
    if (layer.down) x = depthwise(x, fPad);
    if (w) x = conv(x, w, o, k, 1, wPad);
  }
  const out = Float64Array.from(x.data);
  if (layer.bias) {
    const b = layer.bias.toFloat32Array();
    const hw = x.shape[2] * x.shape[3];
    for (let i = 0; i < out.length; i++) out[i] += b[Math.floor(i / hw) % x.shape[1]];
  }
  return out;
}

test('Conv2d matches EDM\'s Conv2d op by op for every resampling mode (kernel 0, up/down, fused, both filters)', () => {
  const cases: [number, { up?: boolean; down?: boolean; fusedResample?: boolean; resampleFilter?: number[] }][] = [
    [3, {}], [1, {}],
    [0, { up: true }], [0, { down: true }], [0, { up: true, resampleFilter: [1, 3, 3, 1] }], [0, { down: true, resampleFilter: [1, 3, 3, 1] }],
    [3, { up: true }], [3, { down: true, resampleFilter: [1, 3, 3, 1] }], [1, { up: true, resampleFilter: [1, 3, 3, 1] }],
    [3, { down: true, fusedResample: true, resampleFilter: [1, 3, 3, 1] }], [3, { up: true, fusedResample: true, resampleFilter: [1, 3, 3, 1] }],
    [3, { up: true, fusedResample: true }], [1, { down: true, fusedResample: true }],
  ];
  const xData = randomArray(2 * 3 * 6 * 6, 1, true);
  for (const [kernel, opts] of cases) {
    const cOut = kernel ? 4 : 3;
    const layer = new Conv2d(3, cOut, kernel, { ...opts, init: { bias: 1 } }, new T.Generator(2));
    const y = layer.forward(T.fromArray(xData, [2, 3, 6, 6]));
    const expected = edmConv({ data: Float64Array.from(xData), shape: [2, 3, 6, 6] }, layer);
    assert.equal(y.size, expected.length, `kernel ${kernel} ${JSON.stringify(opts)}: output size`);
    assertClose(y.toFloat32Array(), expected, 1e-6, `kernel ${kernel} ${JSON.stringify(opts)}`);
  }
});

test('GroupNorm uses min(numGroups, channels / 4) groups', () => {
  const groups = (c: number, numGroups?: number): number => new GroupNorm(c, { numGroups }).numGroups;
  assert.deepEqual([groups(512), groups(64), groups(16), groups(8), groups(4)], [16, 16, 4, 2, 1]);
  assert.equal(groups(512, 32), 32);
  assert.throws(() => new GroupNorm(3), /3 channels do not split into 0 groups/);
});

test('positional embedding: [cos | sin] of x times (1/10000)^(i/(n-1)) with endpoint, (i/n) without', () => {
  const x = [0.5, -1.25];
  for (const endpoint of [true, false]) {
    const e = new PositionalEmbedding(8, { endpoint }).forward(T.fromArray(x, [2])).toFloat32Array();
    const expected = x.flatMap((v) => {
      const phases = [0, 1, 2, 3].map((i) => v * (1 / 10000) ** (i / (endpoint ? 3 : 4)));
      return [...phases.map(Math.cos), ...phases.map(Math.sin)];
    });
    assertClose(e, expected, 1e-6, `endpoint ${endpoint}`);
  }
});

test('Fourier embedding: a buffer of N(0, 16^2) frequencies, [cos | sin] of 2 pi x f', () => {
  const emb = new FourierEmbedding(64, {}, new T.Generator(3));
  const f = emb.freqs.toFloat32Array();
  assert.equal(f.length, 32);
  const std = Math.sqrt(f.reduce((s, v) => s + v * v, 0) / f.length);
  assert.ok(std > 10 && std < 22, `frequency std ${std}`);
  const e = emb.forward(T.fromArray([0.1], [1])).toFloat32Array();
  assertClose(e, [...Array.from(f, (v) => Math.cos(2 * Math.PI * 0.1 * v)), ...Array.from(f, (v) => Math.sin(2 * Math.PI * 0.1 * v))], 1e-5);
  assert.deepEqual(emb.namedBuffers().map(([k]) => k), ['freqs']);
});

test('weight init: EDM\'s bounds and variances, reproducible from the seed; empty allocates only', () => {
  const xu = weightInit([64, 32], 'xavier_uniform', 32, 64, 0.5, new T.Generator(4)).toFloat32Array();
  const bound = 0.5 * Math.sqrt(6 / 96);
  assert.ok(xu.every((v) => Math.abs(v) < bound) && Math.max(...xu.map(Math.abs)) > 0.95 * bound);
  assert.deepEqual([...weightInit([64, 32], 'xavier_uniform', 32, 64, 0.5, new T.Generator(4)).toFloat32Array()], [...xu]);
  const kn = weightInit([20000], 'kaiming_normal', 50, 1, 1, new T.Generator(5)).toFloat32Array();
  const std = Math.sqrt(kn.reduce((s, v) => s + v * v, 0) / kn.length);
  assert.ok(Math.abs(std - Math.sqrt(1 / 50)) < 0.01 * Math.sqrt(1 / 50) * 3, `kaiming_normal std ${std}`);
  assert.ok(weightInit([5], 'xavier_uniform', 1, 1, 0, new T.Generator(6)).toFloat32Array().every((v) => v === 0));
  assert.deepEqual(weightInit([2, 3], 'kaiming_normal', 3, 2, 1, 'empty').shape, [2, 3]);
});

test('dropout zeroes about p of the activations in training mode and scales the rest by 1/(1-p); identity in eval', () => {
  const d = new Dropout(0.25);
  const x = T.ones([4000]);
  const y = d.forward(x, new T.Generator(7)).toFloat32Array();
  const zeros = y.filter((v) => v === 0).length / y.length;
  assert.ok(Math.abs(zeros - 0.25) < 0.03, `dropped fraction ${zeros}`);
  assert.ok(y.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
  assert.equal(d.eval().forward(x), x);
});

test('UNetBlock gradients (input and embedding) match finite differences, with resampling and attention', () => {
  for (const opts of [{ down: true, attention: true, numHeads: 2, adaptiveScale: false }, { up: true, adaptiveScale: true, skipScale: Math.SQRT1_2 }]) {
    const block = new UNetBlock(4, 8, 6, { ...opts, eps: 1e-6 }, new T.Generator(8));
    randomizeParameters(block, 9);
    gradCheck(([x, emb]) => block.forward(x, emb), [
      { data: randomArray(2 * 4 * 4 * 4, 10, true), shape: [2, 4, 4, 4] },
      { data: randomArray(2 * 6, 11, true), shape: [2, 6] },
    ]);
  }
});
