/**
 * run.json in a run folder: the resolved config of the latest start and the environment of every start
 * (machine, device, versions), so a report can say what ran where. Each start (a fresh run or a resume)
 * adds one environment record, with the number of images the run had seen when it started.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../util/output-file.js';
import type { TrainConfig } from './config.js';

export interface EnvironmentRecord {
  /** Images seen when this start began (0 for a fresh run). */
  images: number;
  startedAt: string;
  [field: string]: unknown;
}

export interface RunInfo {
  config: TrainConfig;
  environment: EnvironmentRecord[];
}

export const RUN_INFO_FILE = 'run.json';

/** run.json of a run folder, or null when there is none; a corrupt file is an error naming it. */
export function readRunInfo(runDir: string): RunInfo | null {
  const path = join(runDir, RUN_INFO_FILE);
  if (!existsSync(path)) return null;
  let info: Partial<RunInfo>;
  try {
    info = JSON.parse(readFileSync(path, 'utf8')) as Partial<RunInfo>;
  } catch (e) {
    throw new Error(`${path} is not valid JSON (${(e as Error).message}); the next \`stagediff train --resume\` rewrites it`);
  }
  if (typeof info !== 'object' || info === null || !Array.isArray(info.environment) || typeof info.config !== 'object') throw new Error(`${path} does not hold { config, environment: [...] }`);
  return info as RunInfo;
}

/** Records a start of training: the config now in force and this machine's environment. */
export function recordRunStart(runDir: string, config: TrainConfig, environment: EnvironmentRecord): void {
  let previous: EnvironmentRecord[] = [];
  try {
    // Records past the start point came from an interrupted stretch that is about to be redone in part.
    previous = (readRunInfo(runDir)?.environment ?? []).filter((e) => e.images <= environment.images);
  } catch {
    // A corrupt run.json loses only its own history.
  }
  mkdirSync(runDir, { recursive: true });
  writeFileAtomic(join(runDir, RUN_INFO_FILE), `${JSON.stringify({ config, environment: [...previous, environment] }, null, 2)}\n`);
}
