import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Adam, AdamW } from '../../src/optim/index.js';
import { Parameter } from '../../src/nn/index.js';
import { assertClose, randomArray } from '../helpers/gradcheck.js';

T.setBackend(cpuBackend());

interface Hyper {
  lrs: number[];
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  decoupled: boolean;
}

/** torch.optim.Adam / AdamW (single-tensor path), in float64. */
function reference(p0: Float32Array, grads: Float32Array[], h: Hyper): Float64Array {
  const p = Float64Array.from(p0);
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  grads.forEach((g, k) => {
    const step = k + 1;
    const lr = h.lrs[k];
    for (let i = 0; i < p.length; i++) {
      let gi = g[i];
      if (h.decoupled) p[i] *= 1 - lr * h.weightDecay;
      else gi += h.weightDecay * p[i];
      m[i] = h.beta1 * m[i] + (1 - h.beta1) * gi;
      v[i] = h.beta2 * v[i] + (1 - h.beta2) * gi * gi;
      const bc1 = 1 - h.beta1 ** step;
      const bc2 = 1 - h.beta2 ** step;
      p[i] -= (lr / bc1) * (m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + h.eps));
    }
  });
  return p;
}

function run(make: (params: [string, T.Tensor][]) => Adam, h: Hyper, steps: number): { actual: Float32Array; expected: Float64Array } {
  const p0 = randomArray(50, 1);
  const grads = Array.from({ length: steps }, (_, k) => randomArray(50, 10 + k, true));
  const p = new Parameter(T.fromArray(p0, [5, 10]));
  const opt = make([['w', p]]);
  grads.forEach((g, k) => {
    p.grad = T.keep(T.fromArray(g, [5, 10]));
    opt.lr = h.lrs[k];
    opt.step();
    opt.zeroGrad();
  });
  return { actual: p.toFloat32Array(), expected: reference(p0, grads, h) };
}

test('Adam matches PyTorch\'s formula in float64 over several steps with a changing learning rate', () => {
  const h: Hyper = { lrs: [1e-2, 2e-2, 5e-3, 1e-2, 3e-2], beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, decoupled: false };
  const { actual, expected } = run((ps) => new Adam(ps, { lr: 1 }), h, 5);
  assertClose(actual, expected, 1e-6, 'Adam');
  const l2 = { ...h, weightDecay: 0.1, beta1: 0.8, beta2: 0.99, eps: 1e-6 };
  const r = run((ps) => new Adam(ps, { betas: [0.8, 0.99], eps: 1e-6, weightDecay: 0.1 }), l2, 5);
  assertClose(r.actual, r.expected, 1e-6, 'Adam with L2 weight decay');
});

test('AdamW decays the weights directly (default 0.01, as PyTorch)', () => {
  const h: Hyper = { lrs: [0.1, 0.1, 0.05, 0.2], beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, decoupled: true };
  const { actual, expected } = run((ps) => new AdamW(ps), h, 4);
  assertClose(actual, expected, 1e-6, 'AdamW');
});

test('optimizer state round-trips: a resumed optimizer continues exactly; parameters without a gradient are untouched', () => {
  const make = (): { p: Parameter; q: Parameter } => ({ p: new Parameter(T.fromArray(randomArray(6, 3), [6])), q: new Parameter(T.fromArray(randomArray(4, 4), [4])) });
  const a = make();
  const optA = new Adam([['p', a.p], ['q', a.q]], { lr: 0.01 });
  const g = (seed: number): T.Tensor => T.keep(T.fromArray(randomArray(6, seed, true), [6]));
  a.p.grad = g(5);
  optA.step();
  const q0 = a.q.toFloat32Array();
  const saved = optA.stateDict();
  assert.deepEqual(Object.keys(saved.steps), ['p'], 'q had no gradient: no state');
  assert.deepEqual([...saved.tensors.keys()], ['p.exp_avg', 'p.exp_avg_sq']);

  const b = make();
  b.p.backend.upload(b.p.buffer, a.p.toFloat32Array());
  const optB = new Adam([['p', b.p], ['q', b.q]], { lr: 0.01 });
  optB.loadStateDict(saved);
  for (const [p, opt] of [[a.p, optA], [b.p, optB]] as const) {
    opt.zeroGrad();
    p.grad = g(6);
    opt.step();
  }
  assert.deepEqual([...b.p.toFloat32Array()], [...a.p.toFloat32Array()]);
  assert.deepEqual([...a.q.toFloat32Array()], [...q0]);

  assert.throws(() => optB.loadStateDict({ steps: { r: 1 }, tensors: new Map() }), /parameter "r"/);
  const wrong = new Map(saved.tensors);
  wrong.set('p.exp_avg', { dtype: 'float32', shape: [3], data: new Float32Array(3) });
  assert.throws(() => optB.loadStateDict({ steps: saved.steps, tensors: wrong }), /p\.exp_avg is float32 \[3\], the parameter float32 \[6\]/);
});
