import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { EDMPrecond, SongUNet, type SongUNetOptions } from '../../src/models/index.js';
import { assertClose, randomArray } from '../helpers/gradcheck.js';
import { randomizeParameters } from './random-weights.js';

T.setBackend(cpuBackend());

const TINY: SongUNetOptions = {
  imgResolution: 8, inChannels: 3, outChannels: 3, labelDim: 4, augmentDim: 2, labelDropout: 0.25,
  modelChannels: 8, channelMult: [1, 2], numBlocks: 1, attnResolutions: [4], dropout: 0.1,
};

const variants: [string, SongUNetOptions][] = [
  ['DDPM++ (positional, standard encoder and decoder)', TINY],
  ['NCSN++ (Fourier, residual encoder, skip decoder, [1,3,3,1])', { ...TINY, embeddingType: 'fourier', channelMultNoise: 2, encoderType: 'residual', decoderType: 'skip', resampleFilter: [1, 3, 3, 1] }],
  ['skip encoder', { ...TINY, encoderType: 'skip' }],
];

for (const [what, options] of variants) {
  test(`${what}: a training step's backward reaches every parameter with finite, non-zero gradients`, () => {
    const net = new EDMPrecond(new SongUNet(options, new T.Generator(11)));
    net.train();
    const n = 4;
    const labels = T.fromArray(Float32Array.from({ length: n * 4 }, (_, i) => (i % 4 === Math.floor(i / 4) % 4 ? 1 : 0)), [n, 4]);
    T.tidy(() => {
      const x = T.fromArray(randomArray(n * 3 * 64, 1, true), [n, 3, 8, 8]);
      const d = net.forward(x, [0.05, 0.6, 3, 30], { classLabels: labels, augmentLabels: T.fromArray(randomArray(n * 2, 2), [n, 2]), generator: new T.Generator(5) });
      T.backward(T.mse(d, T.fromArray(randomArray(n * 3 * 64, 3), [n, 3, 8, 8])));
    });
    const params = net.namedParameters();
    assert.ok(params.length > 0);
    for (const [name, p] of params) {
      assert.ok(p.grad, `${name} received no gradient`);
      const g = p.grad.toFloat32Array();
      assert.ok(g.every(Number.isFinite), `${name}: non-finite gradient`);
      assert.ok(g.some((v) => v !== 0), `${name}: gradient is all zero`);
    }
  });
}

test('training mode without a generator fails clearly when dropout is on; eval mode needs none', () => {
  const net = new EDMPrecond(new SongUNet({ ...TINY, labelDim: 0, augmentDim: 0, labelDropout: 0 }, new T.Generator(1)));
  const x = T.zeros([1, 3, 8, 8]);
  assert.throws(() => T.noGrad(() => net.train().forward(x, 1)), /Dropout in training mode needs a Generator/);
  const a = T.noGrad(() => net.eval().forward(x, 1).toFloat32Array());
  assert.ok(a.every(Number.isFinite));
});

test('network gradients match central differences at the largest-gradient weight of each tensor', () => {
  const net = new EDMPrecond(new SongUNet({ ...TINY, dropout: 0, labelDropout: 0 }, new T.Generator(3)));
  randomizeParameters(net, 4);
  net.eval();
  const n = 2;
  const x = T.fromArray(randomArray(n * 3 * 64, 6, true), [n, 3, 8, 8]);
  const inputs = { classLabels: T.fromArray([1, 0, 0, 0, 0, 0, 1, 0], [n, 4]), augmentLabels: T.fromArray(randomArray(n * 2, 7), [n, 2]) };
  const r = T.fromArray(randomArray(n * 3 * 64, 8), [n, 3, 8, 8]);
  const loss = (): number => T.noGrad(() => T.tidy(() => T.sum(T.mul(net.forward(x, [0.2, 4], inputs), r)).item()));
  T.tidy(() => T.backward(T.sum(T.mul(net.forward(x, [0.2, 4], inputs), r))));
  const analytic: number[] = [];
  const numeric: number[] = [];
  const eps = 1e-2;
  for (const [name, p] of net.namedParameters()) {
    if (!/(map_label|map_augment|map_layer0|enc\.8x8_conv|8x8_block0\.(conv0|affine|norm1)|4x4_in0\.(qkv|proj)|dec\.8x8_aux_conv)\.weight$/.test(name)) continue;
    const g = p.grad!.toFloat32Array();
    let i = 0;
    for (let j = 1; j < g.length; j++) if (Math.abs(g[j]) > Math.abs(g[i])) i = j;
    const values = p.toFloat32Array();
    const at = (v: number): number => {
      const copy = Float32Array.from(values);
      copy[i] = v;
      p.backend.upload(p.buffer, copy);
      return loss();
    };
    numeric.push((at(values[i] + eps) - at(values[i] - eps)) / (2 * eps));
    p.backend.upload(p.buffer, values);
    analytic.push(g[i]);
  }
  assert.ok(analytic.length >= 10, `only ${analytic.length} tensors sampled`);
  assertClose(analytic, numeric, 1e-3, 'sampled weight gradients');
});
