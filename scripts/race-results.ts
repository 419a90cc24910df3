/**
 * The quality race's bookkeeping (scripts/gpu-race.sh, docs/results.md):
 *
 *   node dist/scripts/race-results.js record --name NAME --checkpoint FILE --out results.jsonl
 *     appends one JSON line for an evaluated checkpoint: the configuration's name, training minutes, images
 *     seen, images/s, the last logged loss and the FD that `stagediff eval` logged for that checkpoint.
 *   node dist/scripts/race-results.js plot --results results.jsonl --out DIR
 *     draws DIR/race-fd-minutes.png and DIR/race-fd-images.png (one line per configuration).
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { parseFlags } from '../src/cli/args.js';
import { readCheckpointState } from '../src/train/checkpoint.js';
import type { TrainingState } from '../src/train/trainer.js';
import type { LogEntry } from '../src/train/log-window.js';
import { type RacePoint, raceCurvesPng } from '../src/plots/race-plots.js';
import { writeFileAtomic } from '../src/util/output-file.js';

const USAGE = `usage: node dist/scripts/race-results.js record --name NAME --checkpoint FILE --out results.jsonl
       node dist/scripts/race-results.js plot --results results.jsonl --out DIR`;

/** A line of results.jsonl. */
export interface RaceResult extends RacePoint {
  metric: string;
  imagesPerSecond: number;
  /** The weighted training loss of the last log line at or before the checkpoint. */
  loss: number | null;
  /** Samples the FD was computed on. */
  count: number;
  checkpoint: string;
}

interface EvalEntry {
  event: 'eval';
  metric: string;
  value: number;
  count: number;
  checkpoint: string;
}

function readLog(path: string): unknown[] {
  if (!existsSync(path)) throw new Error(`${path} does not exist: record needs the run's log.jsonl next to its checkpoint`);
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line, i) => {
      try {
        return JSON.parse(line) as unknown;
      } catch (e) {
        throw new Error(`${path}, line ${i + 1}: not JSON (${(e as Error).message})`);
      }
    });
}

/** The race's line for an evaluated checkpoint, from its header and its run's log.jsonl. */
export function raceResult(name: string, checkpointPath: string): RaceResult {
  const { state, path } = readCheckpointState<TrainingState>(checkpointPath);
  const entries = readLog(join(dirname(path), 'log.jsonl')) as Record<string, unknown>[];
  const evaluation = entries.filter((e): e is EvalEntry & Record<string, unknown> => e.event === 'eval' && e.checkpoint === basename(path)).at(-1);
  if (!evaluation) throw new Error(`${path} has no eval entry in its log.jsonl: run \`stagediff eval --checkpoint ${path} ...\` first`);
  const training = entries.filter((e): e is LogEntry & Record<string, unknown> => e.event === undefined && typeof e.images === 'number' && e.images <= state.imagesSeen).at(-1);
  return {
    name,
    metric: evaluation.metric,
    minutes: state.elapsedSeconds / 60,
    images: state.imagesSeen,
    imagesPerSecond: state.imagesSeen / state.elapsedSeconds,
    loss: training?.loss ?? null,
    fd: evaluation.value,
    count: evaluation.count,
    checkpoint: path,
  };
}

export function readRaceResults(path: string): RaceResult[] {
  const rows = readLog(path) as RaceResult[];
  rows.forEach((r, i) => {
    for (const key of ['minutes', 'images', 'fd'] as const) {
      if (typeof r[key] !== 'number') throw new Error(`${path}, line ${i + 1}: "${key}" is not a number; expected lines written by \`race-results.js record\``);
    }
    if (typeof r.name !== 'string') throw new Error(`${path}, line ${i + 1}: "name" is not a string`);
  });
  return rows;
}

/** Writes the two race plots into `dir`; returns their paths. */
export function writeRacePlots(results: readonly RaceResult[], dir: string): string[] {
  mkdirSync(dir, { recursive: true });
  const metric = [...new Set(results.map((r) => r.metric))].join(' / ');
  return (['minutes', 'images'] as const).map((axis) => {
    const path = join(dir, `race-fd-${axis}.png`);
    writeFileAtomic(path, raceCurvesPng(results, axis, metric));
    return path;
  });
}

function main(argv: string[]): void {
  const [command, ...rest] = argv;
  if (command === 'record') {
    const v = parseFlags(rest, { name: { type: 'string' }, checkpoint: { type: 'string' }, out: { type: 'string' } }, USAGE);
    if (!v.name || !v.checkpoint || !v.out) throw new Error(`record needs --name, --checkpoint and --out\n\n${USAGE}`);
    const line = raceResult(v.name, v.checkpoint);
    appendFileSync(v.out, `${JSON.stringify(line)}\n`);
    console.log(JSON.stringify(line));
  } else if (command === 'plot') {
    const v = parseFlags(rest, { results: { type: 'string' }, out: { type: 'string' } }, USAGE);
    if (!v.results || !v.out) throw new Error(`plot needs --results and --out\n\n${USAGE}`);
    for (const path of writeRacePlots(readRaceResults(v.results), v.out)) console.log(`wrote ${path}`);
  } else {
    throw new Error(`unknown command "${command ?? ''}"\n\n${USAGE}`);
  }
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    console.error(`race-results: ${(e as Error).message}`);
    process.exit(1);
  }
}
