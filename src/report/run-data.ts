/**
 * What a report shows of one run folder, read from what training and evaluation leave there: log.jsonl
 * (training entries, and `eval` entries with FD/FID), the sample grids of each snapshot, run.json (config
 * and environment) and the stage partition's plot. Anything missing is shown as missing, not an error;
 * lines that cannot be read are counted and named in the report.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { type RunInfo, readRunInfo } from '../train/run-info.js';

export interface TrainPoint {
  step: number;
  images: number;
  lr: number;
  loss: number;
  lossPerStage: (number | null)[];
  imagesPerSecond: number;
  elapsedSeconds: number;
  nonFiniteSteps: number;
}

export interface EvalPoint {
  metric: string;
  value: number;
  /** Training images of the evaluated checkpoint. */
  images: number;
  /** Generated images the metric used. */
  count?: number;
  checkpoint?: string;
  /** How the images were drawn (sampler, steps, precision, count): points of one setting form a curve. */
  setting: string;
}

export interface GridSnapshot {
  images: number;
  path: string;
}

export interface RunData {
  name: string;
  dir: string;
  train: TrainPoint[];
  evals: EvalPoint[];
  grids: GridSnapshot[];
  info: RunInfo | null;
  /** The PNG that `stagediff cluster` wrote beside the partition the run trained with, when it is there. */
  partitionPlot: string | null;
  /** What could not be read, for the report to say. */
  problems: string[];
}

const GRID_NAME = /^grid-(\d{12})\.png$/;
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function trainPoint(o: Record<string, unknown>): TrainPoint | null {
  const { step, images, lr, loss, lossPerStage, imagesPerSecond, elapsedSeconds, nonFiniteSteps } = o;
  if (!isNumber(step) || !isNumber(images) || !isNumber(lr) || !isNumber(loss) || !Array.isArray(lossPerStage)) return null;
  return {
    step,
    images,
    lr,
    loss,
    lossPerStage: lossPerStage.map((l) => (isNumber(l) ? l : null)),
    imagesPerSecond: isNumber(imagesPerSecond) ? imagesPerSecond : NaN,
    elapsedSeconds: isNumber(elapsedSeconds) ? elapsedSeconds : NaN,
    nonFiniteSteps: isNumber(nonFiniteSteps) ? nonFiniteSteps : 0,
  };
}

/** "heun 18 steps bf16, 50000 images" from an eval entry's sampler and count, as far as they are given. */
function settingOf(sampler: unknown, count: unknown): string {
  const s = typeof sampler === 'object' && sampler !== null ? (sampler as Record<string, unknown>) : {};
  const drawn = [s.name, isNumber(s.steps) ? `${s.steps} steps` : null, s.precision].filter((p) => typeof p === 'string' && p !== '').join(' ');
  return [drawn, isNumber(count) ? `${count} images` : ''].filter((p) => p !== '').join(', ');
}

function evalPoint(o: Record<string, unknown>): EvalPoint | null {
  const { metric, value, images, count, checkpoint, sampler } = o;
  if (typeof metric !== 'string' || !isNumber(value) || !isNumber(images)) return null;
  return { metric, value, images, setting: settingOf(sampler, count), ...(isNumber(count) ? { count } : {}), ...(typeof checkpoint === 'string' ? { checkpoint } : {}) };
}

function readLog(path: string, problems: string[]): { train: TrainPoint[]; evals: EvalPoint[] } {
  const train: TrainPoint[] = [];
  const evals: EvalPoint[] = [];
  if (!existsSync(path)) {
    problems.push(`${path} does not exist yet: no training entries`);
    return { train, evals };
  }
  let unreadable = 0;
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      unreadable++;
      continue;
    }
    if (typeof o !== 'object' || o === null) {
      unreadable++;
      continue;
    }
    const entry = o as Record<string, unknown>;
    if (entry.event === 'eval') {
      const p = evalPoint(entry);
      if (p) evals.push(p);
      else unreadable++;
    } else if (entry.event === undefined) {
      const p = trainPoint(entry);
      if (p) train.push(p);
      else unreadable++;
    }
    // Other events are for other readers.
  }
  if (unreadable > 0) problems.push(`${path}: ${unreadable} line(s) could not be read and were skipped`);
  train.sort((a, b) => a.images - b.images);
  evals.sort((a, b) => a.images - b.images);
  return { train, evals };
}

function partitionPlotOf(dir: string, info: RunInfo | null): string | null {
  const from = info?.config.model.stagesFrom;
  if (!from) return null;
  const png = from.replace(/\.json$/i, '') + '.png';
  // stagesFrom is relative to where training was started; the run folder is the usual home of the file.
  return [png, join(dir, basename(png))].find((p) => existsSync(p)) ?? null;
}

/** Reads a run folder; a folder that is not there, or holds nothing a run writes, is an error. */
export function readRun(dir: string): RunData {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch {
    throw new Error(`run folder ${dir} does not exist`);
  }
  if (!isDir) throw new Error(`${dir} is not a folder: give the run folder (the --run-dir of \`stagediff train\`)`);
  const names = readdirSync(dir);
  if (!names.includes('log.jsonl') && !names.some((n) => GRID_NAME.test(n)) && !names.includes('run.json')) {
    throw new Error(`${dir} holds no log.jsonl, sample grid or run.json: it is not a stagediff run folder`);
  }
  const problems: string[] = [];
  let info: RunInfo | null = null;
  try {
    info = readRunInfo(dir);
  } catch (e) {
    problems.push((e as Error).message);
  }
  if (!info && problems.length === 0) problems.push(`${join(dir, 'run.json')} is missing (written by \`stagediff train\` since reports exist): no config or environment`);
  const grids = names
    .map((n) => GRID_NAME.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ images: Number(m[1]), path: join(dir, m[0]) }))
    .sort((a, b) => a.images - b.images);
  const name = basename(dir.replace(/[/\\]+$/, '')) || dirname(dir);
  return { name, dir, ...readLog(join(dir, 'log.jsonl'), problems), grids, info, partitionPlot: partitionPlotOf(dir, info), problems };
}

/** Reads run folders for one report; folders with the same last name are named by their paths instead. */
export function readRuns(dirs: readonly string[]): RunData[] {
  const runs = dirs.map(readRun);
  return runs.map((r) => (runs.filter((o) => o.name === r.name).length > 1 ? { ...r, name: r.dir } : r));
}
