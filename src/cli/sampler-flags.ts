/**
 * The sampler flags that `sample` (and any command that samples, such as eval) share: their parse options,
 * their help lines and the SamplerSpec they make, all from the sampler registry.
 */
import { type SamplerName, type SamplerSetting, type SamplerSpec, SAMPLER_NAMES, samplerList, samplerSpec, samplersTaking } from '../diffusion/samplers/index.js';
import { EDM_CHURN_RANGE } from '../diffusion/samplers/heun.js';
import { integerFlag } from './args.js';

export const SAMPLER_FLAGS = {
  sampler: { type: 'string', default: 'heun' },
  steps: { type: 'string' },
  churn: { type: 'string' },
  order: { type: 'string' },
} as const;

export interface SamplerFlagValues {
  sampler?: string;
  steps?: string;
  churn?: string;
  order?: string;
}

export function samplerFlagsUsage(): string {
  return [
    '  --sampler S          one of (default heun):',
    samplerList('                         '),
    "  --steps N            sampler steps (default: the sampler's own)",
    `  --churn S            ${samplersTaking('churn').join(', ')}: EDM's stochastic sampler, S_churn S (e.g. 40) with EDM's`,
    `                       S_min ${EDM_CHURN_RANGE.sMin}, S_max ${EDM_CHURN_RANGE.sMax}, S_noise ${EDM_CHURN_RANGE.sNoise} (default 0: deterministic)`,
    `  --order K            ${samplersTaking('order').join(', ')}: the solver's order, 1, 2 or 3 (default 3)`,
  ].join('\n');
}

/** The sampler and steps the flags ask for; a setting given to a sampler that does not take it is an error. */
export function samplerFromFlags(v: SamplerFlagValues): { sampler: SamplerSpec; steps: number | undefined } {
  const name = v.sampler ?? 'heun';
  if (!(SAMPLER_NAMES as string[]).includes(name)) throw new Error(`--sampler must be one of ${SAMPLER_NAMES.join(', ')}, got "${name}"`);
  const given = (['churn', 'order'] as const satisfies readonly SamplerSetting[]).filter((s) => v[s] !== undefined);
  for (const setting of given) {
    const takers = samplersTaking(setting);
    if (!(takers as string[]).includes(name)) throw new Error(`--${setting} applies to ${theSamplers(takers)}, not ${name}`);
  }
  const steps = integerFlag('steps', v.steps, 1);
  const churn = v.churn === undefined ? 0 : Number(v.churn);
  if (!(churn >= 0) || !Number.isFinite(churn)) throw new Error(`--churn must be a number >= 0, got "${v.churn}"`);
  if (churn > 0) return { sampler: samplerSpec({ name: name as 'heun' | 'euler', churn, ...EDM_CHURN_RANGE }), steps };
  if (v.order !== undefined) {
    const order = Number(v.order);
    if (order !== 1 && order !== 2 && order !== 3) throw new Error(`--order must be 1, 2 or 3, got "${v.order}"`);
    return { sampler: samplerSpec({ name: 'dpm-solver', order }), steps };
  }
  return { sampler: samplerSpec(name as SamplerName), steps };
}

/** "the heun and euler samplers", "the dpm-solver sampler". */
function theSamplers(names: readonly string[]): string {
  if (names.length === 1) return `the ${names[0]} sampler`;
  return `the ${names.slice(0, -1).join(', ')} and ${names[names.length - 1]} samplers`;
}
