/**
 * Which settings a resumed run may change. A checkpoint's weights, Adam moments, random-number and data
 * positions mean something only under the setup that wrote them (seed, data, model, formulation, batch
 * size, Adam's constants, stage sampling); those must match. The learning rate and its schedule, gradient
 * clipping, the EMA, outputs, run length, device, precision, CUDA graphs and the activation layout only steer what happens next: a resumed run
 * applies them (the NaN message's advice, "lower training.lr or set training.gradClip, then resume", relies
 * on that) and reports each change.
 */
import type { TrainConfig } from './config.js';

/** Dotted fields (and whole sections) that may differ from the checkpoint's config on resume. */
export const RESUME_CHANGEABLE = [
  'runDir',
  'device',
  'precision',
  'training.totalImages',
  'training.microBatch',
  'training.lr',
  'training.lrRampUpImages',
  'training.warmupSteps',
  'training.gradClip',
  'training.gradientBucketMiB',
  'training.cudaGraphs',
  'training.channelsLast',
  'training.ema',
  'output',
] as const;

export interface ConfigChange {
  field: string;
  saved: unknown;
  now: unknown;
}

function isChangeable(field: string): boolean {
  return RESUME_CHANGEABLE.some((f) => field === f || field.startsWith(`${f}.`));
}

/** Leaf fields where two JSON values differ. */
export function configChanges(saved: unknown, now: unknown, path = ''): ConfigChange[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(saved) && isObject(now)) {
    const keys = new Set([...Object.keys(saved), ...Object.keys(now)]);
    return [...keys].flatMap((k) => configChanges(saved[k], now[k], path ? `${path}.${k}` : k));
  }
  return JSON.stringify(saved) === JSON.stringify(now) ? [] : [{ field: path, saved, now }];
}

export function describeChange(c: ConfigChange): string {
  return `${c.field}: ${JSON.stringify(c.saved)} -> ${JSON.stringify(c.now)}`;
}

/**
 * The config a resumed run uses (the requested one) and the changes it makes to the checkpoint's; throws
 * naming every changed field that cannot change on resume.
 */
export function checkResumeChanges(saved: TrainConfig, requested: TrainConfig, checkpointPath: string): ConfigChange[] {
  const changes = configChanges(saved, requested);
  const refused = changes.filter((c) => !isChangeable(c.field));
  if (refused.length > 0) {
    throw new Error(
      `cannot resume from ${checkpointPath} with these settings changed (the saved weights, optimizer state and data position belong to the checkpoint's values):\n  ` +
        `${refused.map(describeChange).join('\n  ')}\n` +
        `Resume with the checkpoint's values (leave out --preset/--config to take them all from the checkpoint), or start a new run folder. ` +
        `Settings that may change on resume: ${RESUME_CHANGEABLE.join(', ')}.`,
    );
  }
  return changes;
}

/**
 * A checkpoint's config as a resumed run's base. Checkpoints of multistage models written before
 * boundaries were required have none in their config (they trained with the paper's, now in their saved
 * partition): those are filled in, in sigma, from the partition.
 */
export function savedConfig(state: { config: TrainConfig; partition: { sigma_boundaries: number[] } }): TrainConfig {
  const { model } = state.config;
  if (model.kind === 'unified' || model.stageBoundaries || model.stagesFrom) return state.config;
  return { ...state.config, model: { ...model, stageBoundaries: [...state.partition.sigma_boundaries], stageUnits: 'sigma' } };
}
