/**
 * The samplers by name, with their default step counts (the paper's settings where it has one: EDM Heun 18
 * steps = 35 evaluations, DPM-Solver-3 and DPM-Solver++(2M) 20 evaluations).
 */
import type { Tensor } from '../../tensor/index.js';
import type { NoiseSource } from '../noise-source.js';
import { type DDIMOptions, ddimSample } from './ddim.js';
import { type DPMSolverPlusPlusOptions, dpmSolverPlusPlusSample } from './dpm-solver-pp.js';
import { type DPMSolverOptions, dpmSolverSample } from './dpm-solver.js';
import type { Evaluator } from './evaluator.js';
import { type EDMSamplerOptions, edmSample } from './heun.js';

export type SamplerSpec =
  | ({ name: 'heun' } & Omit<EDMSamplerOptions, 'solver'>)
  | ({ name: 'euler' } & Omit<EDMSamplerOptions, 'solver'>)
  | ({ name: 'dpm-solver' } & DPMSolverOptions)
  | ({ name: 'dpm-solver++' } & DPMSolverPlusPlusOptions)
  | ({ name: 'ddim' } & DDIMOptions);

export type SamplerName = SamplerSpec['name'];

type Run<S extends SamplerSpec> = (ev: Evaluator, latents: Tensor, steps: number, spec: S, generator: NoiseSource) => Tensor;

const SAMPLERS: { [N in SamplerName]: { defaultSteps: number; run: Run<Extract<SamplerSpec, { name: N }>> } } = {
  heun: { defaultSteps: 18, run: (ev, l, n, spec, g) => edmSample(ev, l, n, { ...spec, solver: 'heun' }, g) },
  euler: { defaultSteps: 18, run: (ev, l, n, spec, g) => edmSample(ev, l, n, { ...spec, solver: 'euler' }, g) },
  'dpm-solver': { defaultSteps: 20, run: dpmSolverSample },
  'dpm-solver++': { defaultSteps: 20, run: dpmSolverPlusPlusSample },
  ddim: { defaultSteps: 50, run: ddimSample },
};

export const SAMPLER_NAMES = Object.keys(SAMPLERS) as SamplerName[];

/** A sampler given by name or by options; an unknown name is an error that lists the known ones. */
export function samplerSpec(sampler: SamplerName | SamplerSpec): SamplerSpec {
  const spec = typeof sampler === 'string' ? ({ name: sampler } as SamplerSpec) : sampler;
  if (!Object.hasOwn(SAMPLERS, spec?.name)) throw new Error(`unknown sampler '${String(spec?.name)}'; choose one of ${SAMPLER_NAMES.join(', ')}`);
  return spec;
}

export function defaultSteps(sampler: SamplerName | SamplerSpec): number {
  return SAMPLERS[samplerSpec(sampler).name].defaultSteps;
}

/** Runs a sampler from standard normal `latents`; each sampler scales them to its starting noise level. */
export function runSampler(sampler: SamplerName | SamplerSpec, steps: number, ev: Evaluator, latents: Tensor, generator: NoiseSource): Tensor {
  const spec = samplerSpec(sampler);
  // The table pairs each name with the runner of its own options; TypeScript cannot follow that through a union.
  return (SAMPLERS[spec.name].run as Run<SamplerSpec>)(ev, latents, steps, spec, generator);
}
