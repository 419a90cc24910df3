import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { LinearVPSchedule, type SamplerSpec, sample } from '../../src/diffusion/index.js';
import { convergenceOrder, latentsOf, mixture1d, rmsDifference, solveFlow } from './mixture-helpers.js';

T.setBackend(cpuBackend());

// Every sampler here solves the same probability-flow ODE from the same starting points; its error against an
// independent float64 RK4 solution must fall as steps^-order. Step ranges sit in each method's asymptotic
// regime and keep the error far above float32 rounding.
const batch = 64;
const seed = 17;
const latents = latentsOf(seed, [batch, 1, 1, 1]);
const vp = new LinearVPSchedule();

/** EDM's samplers start at 80 n and end with the step to sigma = 0, which returns D(x; 0.002). */
function edmReference(): Float64Array {
  const x = solveFlow(mixture1d, latents.map((v) => 80 * v), 80, 0.002);
  return x.map((v) => mixture1d.posterior([v], 0.002).mean[0]);
}

/** The VP-grid samplers start from the VP prior, x_T / alpha_T, and stop at t = 1e-3. */
function vpReference(): Float64Array {
  const s0 = vp.sigma(1);
  return solveFlow(mixture1d, latents.map((v) => Math.sqrt(1 + s0 * s0) * v), s0, vp.sigma(vp.tEnd));
}

const references = { edm: edmReference(), vp: vpReference() };

const cases: [string, SamplerSpec, number[], keyof typeof references, number][] = [
  ['EDM Heun', { name: 'heun' }, [16, 24, 32, 48, 64], 'edm', 2],
  ['EDM Euler', { name: 'euler' }, [32, 64, 128, 256], 'edm', 1],
  ['DPM-Solver-2', { name: 'dpm-solver', order: 2, method: 'fixed' }, [16, 24, 32, 48, 64], 'vp', 2],
  ['DPM-Solver-3', { name: 'dpm-solver', order: 3, method: 'fixed' }, [48, 60, 72, 90, 120], 'vp', 3],
  ['DPM-Solver++(2M)', { name: 'dpm-solver++', spacing: 'logSNR' }, [16, 24, 32, 48, 64], 'vp', 2],
  ['DDIM (eta = 0)', { name: 'ddim', spacing: 'logSNR' }, [32, 64, 128, 256], 'vp', 1],
];

for (const [what, spec, stepList, reference, order] of cases) {
  test(`${what} converges at order ${order}`, (t) => {
    const errors = stepList.map((steps) => {
      const { images } = sample({ model: mixture1d.denoiser(), shape: [1, 1, 1], batch, seed, sampler: spec, steps });
      return rmsDifference(images.toFloat32Array(), references[reference]);
    });
    const measured = convergenceOrder(stepList, errors);
    t.diagnostic(`${what}: steps ${stepList.join(', ')} -> RMS error ${errors.map((e) => e.toExponential(2)).join(', ')}; order ${measured.toFixed(2)}`);
    errors.forEach((e, i) => assert.ok(i === 0 || e < errors[i - 1], `error grew from ${errors[i - 1]} to ${e} at ${stepList[i]} steps`));
    assert.ok(Math.abs(measured - order) < 0.3, `${what}: measured order ${measured.toFixed(2)}, expected ${order}`);
  });
}
