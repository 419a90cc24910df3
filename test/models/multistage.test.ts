/**
 * Per-sample routing: a batch that mixes stages gives what each sample gives alone (forward and
 * gradients), a batch within one stage runs its decoder directly, without gathering, and a stage-sorted
 * batch is cut into slices with the results of gathering; stages that share a decoder run it once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { EDMPrecond, MultistageUNet } from '../../src/models/index.js';
import { StagePartition } from '../../src/stages/stage-partition.js';
import { assertClose, randomArray } from '../helpers/gradcheck.js';
import { randomizeParameters } from './random-weights.js';

T.setBackend(cpuBackend());

const RES = 8;
// Stages (0, 1], (1, 5], (5, inf): two samples in stage 2, one in 0, two in 1, in mixed order.
const SIGMAS = [20, 0.3, 2, 9, 4.5];
const STAGES = [2, 0, 1, 2, 1];

function build(deModelChannels = [12, 8, 4]): { net: EDMPrecond; unet: MultistageUNet } {
  const unet = new MultistageUNet(
    {
      imgResolution: RES, inChannels: 2, outChannels: 2, augmentDim: 3, channelMult: [1, 2], numBlocks: 1, attnResolutions: [4],
      dropout: 0, enModelChannels: 8, deModelChannels, partition: new StagePartition([1, 5]),
    },
    new T.Generator(1),
  );
  randomizeParameters(unet, 2);
  return { net: new EDMPrecond(unet), unet };
}

const x = randomArray(SIGMAS.length * 2 * RES * RES, 3, true);
const aug = randomArray(SIGMAS.length * 3, 4);
const rowOf = (data: Float32Array, i: number, rowLength: number): Float32Array => data.slice(i * rowLength, (i + 1) * rowLength);

function forward(net: EDMPrecond, rows: number[]): T.Tensor {
  const xs = Float32Array.from(rows.flatMap((i) => [...rowOf(x, i, 2 * RES * RES)]));
  const as = Float32Array.from(rows.flatMap((i) => [...rowOf(aug, i, 3)]));
  return net.forward(T.fromArray(xs, [rows.length, 2, RES, RES]), rows.map((i) => SIGMAS[i]), { augmentLabels: T.fromArray(as, [rows.length, 3]) });
}

test('a mixed-stage batch equals each sample run alone, and gathers per stage', () => {
  const { net, unet } = build();
  assert.deepEqual([...unet.partition.route(SIGMAS)].map((r) => [...r]), [[1], [2, 4], [0, 3]]);
  const all = T.noGrad(() => T.tidy(() => forward(net, SIGMAS.map((_, i) => i)).toFloat32Array()));
  assert.deepEqual(unet.lastRoute, { stages: [0, 1, 2], runs: [0, 1, 2], split: 'gather' });
  const alone = SIGMAS.flatMap((_, i) => {
    const out = T.noGrad(() => T.tidy(() => forward(net, [i]).toFloat32Array()));
    assert.deepEqual(unet.lastRoute, { stages: [STAGES[i]], runs: [STAGES[i]], split: 'none' });
    return [...out];
  });
  assertClose(all, alone, 1e-6, 'mixed batch vs one sample at a time');
});

test('a batch within one stage takes the direct path and matches the same samples run alone', () => {
  const { net, unet } = build();
  const rows = [2, 4];
  const batch = T.noGrad(() => T.tidy(() => forward(net, rows).toFloat32Array()));
  assert.deepEqual(unet.lastRoute, { stages: [1], runs: [1], split: 'none' });
  const alone = rows.flatMap((i) => [...T.noGrad(() => T.tidy(() => forward(net, [i]).toFloat32Array()))]);
  assertClose(batch, alone, 1e-6, 'single-stage batch vs one sample at a time');
});

test('gradients of a mixed batch are the sums of the per-sample gradients; idle decoders get none', () => {
  const { net, unet } = build();
  const rows = [0, 1, 3];  // stages 2, 0, 2: decoder 1 idle
  const weights = randomArray(rows.length * 2 * RES * RES, 5);
  const lossOf = (rs: number[], w: Float32Array): void =>
    T.tidy(() => {
      T.backward(T.sum(T.mul(forward(net, rs), T.fromArray(w, [rs.length, 2, RES, RES]))));
    });
  const grads = (): Map<string, Float32Array> => new Map(net.namedParameters().filter(([, p]) => p.grad).map(([n, p]) => [n, p.grad!.toFloat32Array()]));
  const clear = (): void => net.parameters().forEach((p) => { p.grad?.dispose(); p.grad = null; });

  lossOf(rows, weights);
  assert.deepEqual(unet.lastRoute, { stages: [0, 2], runs: [0, 2], split: 'gather' });
  const batched = grads();
  for (const [name] of net.namedParameters()) assert.equal(batched.has(name), !name.startsWith('model.decs.1.'), `${name}: gradient presence`);
  clear();
  rows.forEach((i, k) => lossOf([i], rowOf(weights, k, 2 * RES * RES)));
  const summed = grads();
  assert.deepEqual([...summed.keys()], [...batched.keys()]);
  for (const [name, g] of batched) assertClose(g, summed.get(name)!, 1e-5, name);
});

test('a stage-sorted batch is cut into slices, with the outputs and gradients of gathering', () => {
  const { net, unet } = build();
  const sorted = [1, 2, 4, 0, 3]; // stages 0, 1, 1, 2, 2
  const weights = randomArray(sorted.length * 2 * RES * RES, 6);
  const run = (): { out: Float32Array; grads: Float32Array[] } => {
    const out = T.tidy(() => {
      const y = forward(net, sorted);
      T.backward(T.sum(T.mul(y, T.fromArray(weights, y.shape))));
      return y.toFloat32Array();
    });
    const grads = net.parameters().map((p) => p.grad!.toFloat32Array());
    net.parameters().forEach((p) => { p.grad?.dispose(); p.grad = null; });
    return { out, grads };
  };
  const sliced = run();
  assert.deepEqual(unet.lastRoute, { stages: [0, 1, 2], runs: [0, 1, 2], split: 'slices' });
  // the same batch forced through gather and scatter: a route that lists each stage's rows in reverse, so
  // no stage is a run starting where the previous one ended (a decoder then sums its samples' gradients in
  // another order: equal to rounding)
  const route = unet.partition.route.bind(unet.partition);
  unet.partition.route = (s) => route(s).map((index) => index.slice().reverse());
  const gathered = run();
  assert.deepEqual(unet.lastRoute, { stages: [0, 1, 2], runs: [0, 1, 2], split: 'gather' });
  assert.deepEqual(sliced.out, gathered.out);
  sliced.grads.forEach((g, i) => assertClose(g, gathered.grads[i], 1e-6, net.namedParameters()[i][0]));
});

test('stages that share a decoder run through it once, as one group of rows', () => {
  const { net, unet } = build([8, 8, 8]);
  const sorted = [1, 2, 4, 0, 3]; // stages 0, 1, 1, 2, 2
  const own = T.noGrad(() => T.tidy(() => {
    // decoder 1 given decoder 0's weights: running stage 1 on it must be what sharing decoder 0 computes
    const from = new Map(unet.decs.at(0).stateDict());
    for (const [name, t] of unet.decs.at(1).stateDict()) t.backend.copyRows(from.get(name)!.buffer, 0, 0, t.buffer, 0, 0, 1, t.size);
    return forward(net, sorted).toFloat32Array();
  }));
  assert.deepEqual(unet.lastRoute, { stages: [0, 1, 2], runs: [0, 1, 2], split: 'slices' });
  unet.decoderOf[1] = 0;
  const shared = T.noGrad(() => T.tidy(() => forward(net, sorted).toFloat32Array()));
  assert.deepEqual(unet.lastRoute, { stages: [0, 1, 2], runs: [0, 2], split: 'slices' });
  assertClose(shared, own, 1e-6, 'stage 1 through decoder 0 vs through a copy of it');
  // rows of one group that are not contiguous (stages 0 and 2 on decoder 0, stage 1 between them) are gathered
  unet.decoderOf[1] = 1;
  unet.decoderOf[2] = 0;
  T.noGrad(() => T.tidy(() => forward(net, sorted).dispose()));
  assert.deepEqual(unet.lastRoute, { stages: [0, 1, 2], runs: [0, 1], split: 'gather' });
});
