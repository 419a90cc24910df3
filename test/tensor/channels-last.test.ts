/**
 * Channels-last (NHWC) network ops against their NCHW twins: the same values in the other layout, forward
 * and every gradient, float32, odd shapes included.
 */
import { test } from 'node:test';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { assertClose, randomArray } from '../helpers/gradcheck.js';

T.setBackend(cpuBackend());

const TOL = 1e-6;

/** A leaf tensor of random values that requires grad. */
function leaf(shape: number[], seed: number): T.Tensor {
  const t = T.fromArray(randomArray(shape.reduce((a, b) => a * b, 1), seed), shape);
  t.requiresGrad = true;
  return t;
}

/**
 * Runs `op` on x [N, C, H, W] in NCHW and on its NHWC copy, backpropagates the same random projection
 * through both, and compares the outputs (the NHWC one transposed back), x's gradients and every
 * parameter's gradient.
 */
function compareLayouts(what: string, xShape: number[], params: T.Tensor[], op: (x: T.Tensor, channelsLast: boolean) => T.Tensor): void {
  const runs = [false, true].map((channelsLast) =>
    T.tidy(() => {
      const x = leaf(xShape, 1);
      for (const p of params) p.grad = null;
      const xIn = channelsLast ? T.detach(T.permute(x, [0, 2, 3, 1])) : x;
      xIn.requiresGrad = true;
      const y = op(xIn, channelsLast);
      const yNchw = channelsLast ? T.permute(y, [0, 3, 1, 2]) : y;
      const r = T.fromArray(randomArray(yNchw.size, 2), yNchw.shape);
      T.backward(T.sum(T.mul(yNchw, r)));
      const gx = channelsLast ? T.permute(xIn.grad!, [0, 3, 1, 2]) : xIn.grad!;
      return { y: yNchw.toFloat32Array(), gx: gx.toFloat32Array(), gp: params.map((p) => p.grad!.toFloat32Array()) };
    }),
  );
  const [nchw, nhwc] = runs;
  assertClose(nhwc.y, nchw.y, TOL, `${what}: output`);
  assertClose(nhwc.gx, nchw.gx, TOL, `${what}: input gradient`);
  nchw.gp.forEach((g, k) => assertClose(nhwc.gp[k], g, TOL, `${what}: parameter ${k} gradient`));
}

test('conv2d channels last equals NCHW: 3x3, 1x1, strided, rectangular padding, odd channel counts', () => {
  const cases: { x: number[]; w: number[]; pad: number | [number, number]; stride: number }[] = [
    { x: [2, 3, 7, 5], w: [5, 3, 3, 3], pad: 1, stride: 1 },
    { x: [3, 6, 4, 4], w: [7, 6, 1, 1], pad: 0, stride: 1 },
    { x: [2, 4, 9, 6], w: [3, 4, 3, 3], pad: 1, stride: 2 },
    { x: [1, 2, 6, 7], w: [4, 2, 1, 3], pad: [0, 1], stride: 1 },
  ];
  cases.forEach((c, k) => {
    const w = leaf(c.w, 10 + k);
    const b = leaf([c.w[0]], 20 + k);
    compareLayouts(`conv2d case ${k}`, c.x, [w, b], (x, channelsLast) => T.conv2d(x, w, b, { pad: c.pad, stride: c.stride, channelsLast }));
    compareLayouts(`conv2d case ${k} without bias`, c.x, [w], (x, channelsLast) => T.conv2d(x, w, null, { pad: c.pad, stride: c.stride, channelsLast }));
  });
});

test('group norm (and its fused SiLU) channels last equals NCHW', () => {
  for (const [shape, groups] of [[[2, 6, 3, 5], 3], [[3, 8, 4, 4], 2], [[1, 5, 2, 3], 5]] as [number[], number][]) {
    const c = shape[1];
    const gamma = leaf([c], 30);
    const beta = leaf([c], 31);
    for (const silu of [false, true]) {
      compareLayouts(`groupNorm ${JSON.stringify(shape)} / ${groups}${silu ? ' + SiLU' : ''}`, shape, [gamma, beta], (x, channelsLast) => T.groupNorm(x, gamma, beta, groups, 1e-5, silu, channelsLast));
    }
  }
});

test('FIR resampling up and down channels last equals NCHW, [1,1] and [1,3,3,1]', () => {
  for (const taps of [[1, 1], [1, 3, 3, 1]]) {
    const pad = (taps.length - 1) >> 1;
    for (const mode of ['up', 'down'] as const) {
      for (const shape of [[2, 3, 6, 4], [1, 5, 5, 7]]) {
        compareLayouts(`resample ${mode} ${JSON.stringify(taps)} ${JSON.stringify(shape)}`, shape, [], (x, channelsLast) => T.resample(x, mode, taps, pad, channelsLast));
      }
    }
  }
});
