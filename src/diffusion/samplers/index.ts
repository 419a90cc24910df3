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

/** Settings a sampler takes beyond its steps (the CLI's --churn and --order). */
export type SamplerSetting = 'churn' | 'order';

interface SamplerEntry<N extends SamplerName> {
  defaultSteps: number;
  /** One line for help texts. */
  summary: string;
  settings: readonly SamplerSetting[];
  run: Run<Extract<SamplerSpec, { name: N }>>;
}

/** The one list of samplers: help texts, error messages and the CLI's checks all come from here. */
const SAMPLERS: { [N in SamplerName]: SamplerEntry<N> } = {
  heun: {
    defaultSteps: 18,
    summary: "EDM's 2nd-order sampler: 2 evaluations per step but the last (18 steps = 35)",
    settings: ['churn'],
    run: (ev, l, n, spec, g) => edmSample(ev, l, n, { ...spec, solver: 'heun' }, g),
  },
  euler: { defaultSteps: 18, summary: "EDM's sampler without the Heun correction: 1 evaluation per step", settings: ['churn'], run: (ev, l, n, spec, g) => edmSample(ev, l, n, { ...spec, solver: 'euler' }, g) },
  'dpm-solver': { defaultSteps: 20, summary: 'singlestep DPM-Solver of order 1, 2 or 3 (default 3): steps = evaluations', settings: ['order'], run: dpmSolverSample },
  'dpm-solver++': { defaultSteps: 20, summary: 'multistep DPM-Solver++(2M): 1 evaluation per step', settings: [], run: dpmSolverPlusPlusSample },
  ddim: { defaultSteps: 50, summary: 'DDIM (deterministic): 1 evaluation per step', settings: [], run: ddimSample },
};

export const SAMPLER_NAMES = Object.keys(SAMPLERS) as SamplerName[];

/** A sampler given by name or by options; an unknown name is an error that lists the known ones. */
export function samplerSpec(sampler: SamplerName | SamplerSpec): SamplerSpec {
  const spec = typeof sampler === 'string' ? ({ name: sampler } as SamplerSpec) : sampler;
  if (!Object.hasOwn(SAMPLERS, spec?.name)) throw new Error(`unknown sampler '${String(spec?.name)}'; choose one of ${SAMPLER_NAMES.join(', ')}`);
  return spec;
}

/** One line per sampler: name, summary, default steps; `indent` starts each line. */
export function samplerList(indent: string): string {
  const width = Math.max(...SAMPLER_NAMES.map((n) => n.length));
  return SAMPLER_NAMES.map((n) => `${indent}${n.padEnd(width)}  ${SAMPLERS[n].summary}; default ${SAMPLERS[n].defaultSteps} steps`).join('\n');
}

/** The samplers that take a setting. */
export function samplersTaking(setting: SamplerSetting): SamplerName[] {
  return SAMPLER_NAMES.filter((n) => SAMPLERS[n].settings.includes(setting));
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
