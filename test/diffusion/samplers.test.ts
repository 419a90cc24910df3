import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { StagePartition } from '../../src/stages/stage-partition.js';
import { LinearVPSchedule, type SamplerSpec, onSchedule, sample } from '../../src/diffusion/index.js';
import { assertReproducesMixture, mixture2d, recording } from './mixture-helpers.js';

T.setBackend(cpuBackend());

const vp = new LinearVPSchedule();
const sigmaEnd = vp.sigma(vp.tEnd);

// Step counts where each method's discretisation bias is well below the statistical error of 4000 samples
// (the convergence tests measure that bias directly).
const reproducing: [string, SamplerSpec, number][] = [
  ['DPM-Solver-3 (fast, logSNR)', { name: 'dpm-solver', order: 3 }, 45],
  ['DPM-Solver-2 (fast, logSNR)', { name: 'dpm-solver', order: 2 }, 40],
  ['DPM-Solver++(2M) (logSNR)', { name: 'dpm-solver++', spacing: 'logSNR' }, 30],
  ['DDIM eta = 0 (logSNR)', { name: 'ddim', spacing: 'logSNR' }, 200],
  ['DDIM eta = 1, ancestral (logSNR)', { name: 'ddim', eta: 1, spacing: 'logSNR' }, 200],
];

for (const [what, spec, steps] of reproducing) {
  test(`${what} reproduces the Gaussian mixture (means, covariances, weights of 4000 samples)`, () => {
    const { images, evaluations } = sample({ model: mixture2d.denoiser(), shape: [2, 1, 1], batch: 4000, seed: 21, sampler: spec, steps });
    assert.equal(evaluations, steps);
    // They stop at t = 1e-3, where the data still carries noise of that level.
    assertReproducesMixture(mixture2d, images.toFloat32Array(), sigmaEnd);
  });
}

test('every sampler counts each evaluation once, at the stage of its noise level', () => {
  const partition = new StagePartition([0.3, 2.5103, 7.6577]);
  const specs: [SamplerSpec, number][] = [
    [{ name: 'heun', churn: 10 }, 12],
    [{ name: 'euler' }, 9],
    [{ name: 'dpm-solver', order: 3 }, 20],
    [{ name: 'dpm-solver', order: 2, spacing: 'time-quadratic' }, 11],
    [{ name: 'dpm-solver', order: 1, method: 'fixed' }, 7],
    [{ name: 'dpm-solver++' }, 13],
    [{ name: 'ddim', eta: 0.5 }, 10],
  ];
  for (const [spec, steps] of specs) {
    const rec = recording(mixture2d.denoiser());
    const result = sample({ model: rec.denoiser, shape: [2, 1, 1], batch: 8, seed: 5, sampler: spec, steps, partition });
    const perStage = [0, 0, 0, 0];
    for (const s of rec.sigmas) perStage[partition.stageOf(s)]++;
    assert.equal(result.evaluations, rec.sigmas.length, spec.name);
    assert.deepEqual(result.evaluationsPerStage, perStage, `${spec.name}: ${JSON.stringify(result.evaluationsPerStage)}`);
    assert.ok(perStage.filter((n) => n > 0).length >= 3, `${spec.name} should visit most stages: ${JSON.stringify(perStage)}`);
  }
});

test('DPM-Solver spends exactly `steps` evaluations in fast mode, and steps / order x order in fixed mode', () => {
  for (const order of [1, 2, 3]) {
    for (const steps of [1, 2, 3, 4, 5, 6, 7, 10, 20]) {
      const rec = recording(mixture2d.denoiser());
      const { evaluations } = sample({ model: rec.denoiser, shape: [2, 1, 1], batch: 2, seed: 1, sampler: { name: 'dpm-solver', order }, steps });
      assert.equal(evaluations, steps, `order ${order}, ${steps} steps`);
      // Noise levels of a singlestep solver decrease monotonically through the run.
      assert.ok(rec.sigmas.every((s, i) => i === 0 || s < rec.sigmas[i - 1]), `order ${order}, ${steps} steps: ${rec.sigmas}`);
    }
  }
  assert.equal(sample({ model: mixture2d.denoiser(), shape: [2, 1, 1], batch: 2, seed: 1, sampler: { name: 'dpm-solver', order: 3, method: 'fixed' }, steps: 12 }).evaluations, 12);
});

test('DPM-Solver-1 and deterministic DDIM are the same method', () => {
  const run = (spec: SamplerSpec) => sample({ model: mixture2d.denoiser(), shape: [2, 1, 1], batch: 256, seed: 8, sampler: spec, steps: 15 }).images.toFloat32Array();
  const a = run({ name: 'dpm-solver', order: 1, spacing: 'time-uniform' });
  const b = run({ name: 'ddim', eta: 0, spacing: 'time-uniform' });
  let worst = 0;
  a.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - b[i]))));
  assert.ok(worst < 1e-4, `largest difference ${worst}`);
});

test("the VP samplers step on a model's own schedule; EDM's samplers and a named schedule are left as they are", () => {
  const own = new LinearVPSchedule({ beta1: 10 });
  const named = new LinearVPSchedule({ beta1: 30 });
  for (const name of ['dpm-solver', 'dpm-solver++', 'ddim'] as const) {
    const r = recording((x) => T.mulScalar(x, 0.5));
    sample({ model: r.denoiser, shape: [1, 2, 2], batch: 1, seed: 0, steps: 3, sampler: onSchedule({ name }, own) });
    // the first evaluation is at the start of the model's schedule, sigma(1) = sqrt(e^(9.9 / 2 + 0.1) - 1)
    assert.ok(Math.abs(r.sigmas[0] / Math.sqrt(Math.exp(9.9 / 2 + 0.1) - 1) - 1) < 1e-6, `${name}: first sigma ${r.sigmas[0]}`);
    assert.equal((onSchedule({ name, schedule: named }, own) as { schedule: unknown }).schedule, named);
  }
  assert.deepEqual(onSchedule({ name: 'heun' }, own), { name: 'heun' });
  assert.deepEqual(onSchedule({ name: 'ddim' }, null), { name: 'ddim' });
});
