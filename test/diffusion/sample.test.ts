import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import type { Backend } from '../../src/backend/backend.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { LinearVPSchedule, type SampleOptions, VPFormulation, sample } from '../../src/diffusion/index.js';
import { latentsOf, mixture2d } from './mixture-helpers.js';

T.setBackend(cpuBackend());

const base: SampleOptions = { model: mixture2d.denoiser(), shape: [2, 1, 1], batch: 6, seed: 42 };

test('sample draws its noise from a Generator seeded by `seed` and scales it to the sampler\'s first level', () => {
  const firstInputs: Float32Array[] = [];
  const model: SampleOptions['model'] = (x, s) => {
    firstInputs.push(x.toFloat32Array());
    return mixture2d.denoiser()(x, s);
  };
  const latents = latentsOf(42, [6, 2, 1, 1]);
  sample({ ...base, model, sampler: 'heun', steps: 3 });
  assert.deepEqual(firstInputs[0], Float32Array.from(latents, (v) => 80 * v));
  firstInputs.length = 0;
  sample({ ...base, model, sampler: 'dpm-solver', steps: 3 });
  const s0 = new LinearVPSchedule().sigma(1);
  firstInputs[0].forEach((v, i) => assert.ok(Math.abs(v - Math.sqrt(1 + s0 * s0) * latents[i]) < 1e-4));
  const a = sample(base).images.toFloat32Array();
  assert.deepEqual(sample(base).images.toFloat32Array(), a);
  assert.notDeepEqual(sample({ ...base, seed: 43 }).images.toFloat32Array(), a);
});

test('bad arguments give clear errors', () => {
  const bad: [Partial<SampleOptions>, RegExp][] = [
    [{ steps: 0 }, /steps must be a positive integer, got 0/],
    [{ steps: 2.5 }, /steps must be a positive integer, got 2.5/],
    [{ sampler: { name: 'heun', sigmaMin: 5, sigmaMax: 5 } }, /0 < sigma_min < sigma_max/],
    [{ sampler: { name: 'euler', sigmaMin: 1, sigmaMax: 0.5 } }, /0 < sigma_min < sigma_max/],
    [{ sampler: 'dpm-solver-9000' as never }, /unknown sampler 'dpm-solver-9000'; choose one of heun, euler, dpm-solver, dpm-solver\+\+, ddim/],
    [{ sampler: { name: 'dpm-solver', order: 4 } }, /DPM-Solver order must be 1, 2 or 3, got 4/],
    [{ sampler: { name: 'dpm-solver', order: 3, method: 'fixed' }, steps: 10 }, /needs steps divisible by 3, got 10/],
    [{ sampler: { name: 'dpm-solver++', tStart: 0.5, tEnd: 0.6 } }, /0 < t_end < t_start <= 1/],
    [{ sampler: { name: 'ddim', spacing: 'cosine' as never } }, /unknown time spacing 'cosine'/],
    [{ sampler: { name: 'ddim', eta: -1 } }, /DDIM eta must be a finite number >= 0/],
    [{ sampler: { name: 'ddim', eta: 3 }, steps: 5 }, /asks for more fresh noise/],
    [{ sampler: { name: 'heun', churn: -1 } }, /S_churn >= 0/],
    [{ batch: 0 }, /batch must be a positive integer/],
    [{ shape: [2, 1] }, /shape must be \[C, H, W\]/],
    [{ model: (x) => T.zeros([x.shape[0], 3, 1, 1]) }, /denoiser returned \[6, 3, 1, 1\] for input \[6, 2, 1, 1\]/],
  ];
  for (const [change, message] of bad) assert.throws(() => sample({ ...base, ...change }), message, JSON.stringify(change));
});

test('sampling records no autograd tape, even for a network whose weights require gradients', () => {
  const w = T.fromArray([0.5, -0.2, 0.1, 0.3], [2, 2]);
  w.requiresGrad = true;
  const net = (x: T.Tensor) => T.reshape(T.linear(T.reshape(x, [x.shape[0], 2]), w, null), x.shape);
  const { images } = sample({ ...base, model: new VPFormulation(new LinearVPSchedule()).denoiser(net), sampler: 'ddim', steps: 4 });
  assert.equal(images.requiresGrad, false);
  assert.equal(images.node, null);
});

test('memory stays flat: live buffers do not grow with the number of steps, and only the images survive', () => {
  let live = 0;
  let peak = 0;
  const cpu = cpuBackend();
  const counting: Backend = {
    ...cpu,
    alloc: (dtype, n) => {
      peak = Math.max(peak, ++live);
      return cpu.alloc(dtype, n);
    },
    free: (buf) => {
      live--;
      cpu.free(buf);
    },
  };
  T.setBackend(counting);
  try {
    for (const sampler of ['heun', 'dpm-solver', 'dpm-solver++', { name: 'ddim', eta: 1 }] as const) {
      const peaks = [5, 40].map((steps) => {
        peak = live = 0;
        const { images } = sample({ ...base, sampler, steps });
        assert.equal(live, 1, `${JSON.stringify(sampler)}, ${steps} steps: ${live} buffers alive after sampling`);
        images.dispose();
        return peak;
      });
      assert.equal(peaks[1], peaks[0], `${JSON.stringify(sampler)}: peak buffers ${peaks[0]} at 5 steps, ${peaks[1]} at 40`);
    }
  } finally {
    T.setBackend(cpu);
  }
});
