/**
 * Channels-last execution (setChannelsLast): the same network with the same weights gives the NCHW
 * network's output and parameter gradients, for DDPM++, NCSN++ (residual encoder, skip decoder), the
 * multistage U-Net on a mixed-stage batch and the separate U-Nets; the state dict is the same either way.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { EDMPrecond, MultistageUNet, type NoiseLabelNetwork, SongUNet, type SongUNetOptions } from '../../src/models/index.js';
import { SeparateUNets } from '../../src/models/separate-unets.js';
import { StagePartition } from '../../src/stages/stage-partition.js';
import { assertClose, randomArray } from '../helpers/gradcheck.js';
import { randomizeParameters } from './random-weights.js';

T.setBackend(cpuBackend());

const RES = 8;
const TOL = 1e-5;
// Dropout off: its mask follows the activations' memory order, so channels last drops other elements
// (with the same probability) and only the layouts' deterministic parts can be compared.
const TINY: SongUNetOptions = {
  imgResolution: RES, inChannels: 3, outChannels: 3, labelDim: 4, augmentDim: 2, modelChannels: 8, channelMult: [1, 2], numBlocks: 1, attnResolutions: [4], dropout: 0,
};
const SIGMAS = [20, 0.3, 2, 9, 4.5, 0.05];
const N = SIGMAS.length;

/** The output and every parameter's gradient (by name) of one training-mode pass, in the network's layout. */
function pass(net: EDMPrecond): { out: Float32Array; grads: Map<string, Float32Array> } {
  for (const p of net.parameters()) p.grad = null;
  return T.tidy(() => {
    const x = T.fromArray(randomArray(N * 3 * RES * RES, 1, true), [N, 3, RES, RES]);
    const classLabels = T.fromArray(Float32Array.from({ length: N * 4 }, (_, i) => (i % 4 === Math.floor(i / 4) % 4 ? 1 : 0)), [N, 4]);
    const augmentLabels = T.fromArray(randomArray(N * 2, 2), [N, 2]);
    const d = net.forward(x, SIGMAS, { classLabels, augmentLabels, generator: new T.Generator(5) });
    assert.deepEqual(d.shape, [N, 3, RES, RES]);
    T.backward(T.sum(T.mul(d, T.fromArray(randomArray(d.size, 3), d.shape))));
    return { out: d.toFloat32Array(), grads: new Map(net.namedParameters().map(([name, p]) => [name, p.grad!.toFloat32Array()])) };
  });
}

function assertLayoutsAgree(what: string, unet: NoiseLabelNetwork): void {
  randomizeParameters(unet, 4);
  const net = new EDMPrecond(unet);
  net.train();
  const nchw = pass(net);
  const keys = net.stateDict();
  net.setChannelsLast(true);
  assert.ok(unet.namedModules().every(([, m]) => m.channelsLast), 'every module is channels last');
  const nhwc = pass(net);
  assert.deepEqual([...net.stateDict().keys()], [...keys.keys()], `${what}: the state dict's names`);
  for (const [name, t] of net.stateDict()) assert.deepEqual(t.shape, keys.get(name)!.shape, `${what}: ${name} keeps its shape`);
  assertClose(nhwc.out, nchw.out, TOL, `${what}: output`);
  assert.equal(nhwc.grads.size, nchw.grads.size);
  for (const [name, g] of nchw.grads) assertClose(nhwc.grads.get(name)!, g, TOL, `${what}: gradient of ${name}`);
}

test('DDPM++ channels last equals NCHW: output and every parameter gradient', () => {
  assertLayoutsAgree('DDPM++', new SongUNet(TINY, new T.Generator(1)));
});

test('NCSN++ (residual encoder, skip decoder, [1,3,3,1]) channels last equals NCHW', () => {
  const ncsn: SongUNetOptions = { ...TINY, embeddingType: 'fourier', channelMultNoise: 2, encoderType: 'residual', decoderType: 'skip', resampleFilter: [1, 3, 3, 1] };
  assertLayoutsAgree('NCSN++', new SongUNet(ncsn, new T.Generator(2)));
});

test('the skip encoder channels last equals NCHW', () => {
  assertLayoutsAgree('skip encoder', new SongUNet({ ...TINY, encoderType: 'skip' }, new T.Generator(6)));
});

test('the multistage U-Net on a mixed-stage batch channels last equals NCHW', () => {
  const partition = new StagePartition([1, 5]);
  const { modelChannels: _, ...shared } = TINY;
  assertLayoutsAgree('multistage', new MultistageUNet({ ...shared, enModelChannels: 8, deModelChannels: [12, 8, 4], partition }, new T.Generator(3)));
});

test('separate U-Nets channels last equal NCHW', () => {
  const partition = new StagePartition([1, 5]);
  const { modelChannels: _, ...shared } = TINY;
  assertLayoutsAgree('separate', new SeparateUNets({ ...shared, modelChannels: [8, 4, 4], partition }, new T.Generator(4)));
});
