import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { mergeConfig, setPath } from '../../config/schema.js';
import { TRAIN_PRESETS, presetConfig, resolveTrainConfig } from '../../train/config.js';
import { Trainer, type TrainingState } from '../../train/trainer.js';
import { listCheckpoints, readCheckpointState } from '../../train/checkpoint.js';
import { describeChange, savedConfig } from '../../train/resume-config.js';
import { integerFlag, parseFlags } from '../args.js';
import { ProgressBar, formatCount, formatDuration } from '../progress.js';
import { useDevice } from '../../runtime/device.js';
import { recordRunStart } from '../../train/run-info.js';
import { REPORT_FILE, writeReport } from '../../report/index.js';
import { currentEnvironment } from '../environment.js';
import { type RankEnvironment, rankEnvironment, selectLocalGpu } from '../../distributed/environment.js';
import { launchRanks } from '../../distributed/launcher.js';
import { NcclCommunicator } from '../../distributed/nccl-communicator.js';

const USAGE = `usage: stagediff train [--preset NAME] [--config FILE.json] [--set field=value ...] [options]

Trains a diffusion model; settings come from a preset, then a config file, then --set and the flags below
(later wins). Every field is documented in docs/config.md. A preset or a config file is required, except
when resuming: then the checkpoint's settings are the base, and --set may change the learning rate, its
schedule, clipping, EMA, outputs, run length, device and precision (each change is reported).

  --preset NAME        ${Object.keys(TRAIN_PRESETS).join(', ')}
  --config FILE        JSON config (fields as docs/config.md)
  --set a.b=value      override one field (value parsed as JSON when it can be); repeatable
  --data PATH          data.path
  --stages-from FILE   model.stagesFrom: stage boundaries from \`stagediff cluster --out FILE\`
  --run-dir DIR        runDir: checkpoints, log.jsonl, grids, run.json, report.html
  --device D           auto | cpu | cuda
  --seed N             seed of every random number of the run
  --resume             continue from the newest checkpoint of the run folder, if it has one
  --resume-from CKPT   continue from this checkpoint file (newer checkpoints of the run folder are moved
                       into a set-aside-<time> folder, never deleted)
  --images N           stop after N images (a checkpoint is written), even if the run is longer
  --minutes M          stop after M minutes of training (a checkpoint and a grid are written)
  --gpus N             train on N GPUs of this node: one process per GPU, each on its share of every
                       batch, gradients summed through NCCL; rank 0 writes the run folder. On several
                       nodes, start one \`stagediff train\` per GPU with RANK, WORLD_SIZE, LOCAL_RANK,
                       MASTER_ADDR and MASTER_PORT set instead (docs/training.md, "Several GPUs")
  --print-config       print the resolved config and exit`;

type ConfigFlags = { preset?: string; config?: string; set?: string[]; data?: string; 'stages-from'?: string; 'run-dir'?: string; device?: string; seed?: string };

/**
 * Builds the raw config from a preset, a file, overrides and flags (validated by the trainer), on top of
 * `base` (a resumed checkpoint's config when neither a preset nor a file is given).
 */
export function configFromFlags(values: ConfigFlags, base: Record<string, unknown> = {}): Record<string, unknown> {
  let raw: unknown = values.preset ? presetConfig(values.preset) : mergeConfig({}, base);
  if (values.config) {
    let text: string;
    try {
      text = readFileSync(values.config, 'utf8');
    } catch (e) {
      throw new Error(`--config: cannot read ${values.config} (${(e as Error).message})`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`--config: ${values.config} is not valid JSON (${(e as Error).message})`);
    }
    raw = mergeConfig(raw, parsed);
  }
  const out = raw as Record<string, unknown>;
  for (const s of values.set ?? []) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new Error(`--set needs field=value, got "${s}"`);
    setPath(out, s.slice(0, eq), s.slice(eq + 1));
  }
  if (values.data !== undefined) setPath(out, 'data.path', JSON.stringify(values.data));
  if (values['stages-from'] !== undefined) setPath(out, 'model.stagesFrom', JSON.stringify(values['stages-from']));
  if (values['run-dir'] !== undefined) out.runDir = values['run-dir'];
  if (values.device !== undefined) out.device = values.device;
  if (values.seed !== undefined) out.seed = integerFlag('seed', values.seed);
  return out;
}

export async function trainCommand(argv: string[]): Promise<void> {
  const values = parseFlags(
    argv,
    {
      preset: { type: 'string' },
      config: { type: 'string' },
      set: { type: 'string', multiple: true },
      data: { type: 'string' },
      'stages-from': { type: 'string' },
      'run-dir': { type: 'string' },
      device: { type: 'string' },
      seed: { type: 'string' },
      resume: { type: 'boolean' },
      'resume-from': { type: 'string' },
      images: { type: 'string' },
      minutes: { type: 'string' },
      gpus: { type: 'string' },
      'print-config': { type: 'boolean' },
    },
    USAGE,
  );
  const resume = values['resume-from'] ?? values.resume ?? false;
  // --print-config alone shows the defaults: it starts nothing.
  const raw = configFromFlags(values, values['print-config'] && !resume ? {} : baseConfig(values, resume));
  if (values['print-config']) {
    console.log(JSON.stringify(resolveTrainConfig(raw), null, 2));
    return;
  }
  const ranks = rankEnvironment();
  if (values.gpus !== undefined) {
    const gpus = integerFlag('gpus', values.gpus, 1)!;
    if (ranks) throw new Error('--gpus starts its own ranks: leave it out where RANK and WORLD_SIZE are set (your launcher then starts one process per GPU)');
    resolveTrainConfig(raw); // a bad config fails here, once, rather than in every rank
    const launched = await launchRanks({ ranks: gpus, command: process.execPath, args: [...process.execArgv, process.argv[1], 'train', ...withoutGpus(argv)] });
    const f = launched.failure;
    if (f) throw new Error(f.rank < 0 ? `training ${f.how}; its ranks were stopped` : `rank ${f.rank} ${f.how} (its message is above); the other ranks were stopped`);
    return;
  }
  const result = await runTraining(raw, { resume, stopAtImages: integerFlag('images', values.images, 1), stopAfterSeconds: minutesFlag(values.minutes), ranks: ranks ?? undefined });
  if ((ranks?.rank ?? 0) !== 0) return;
  console.log(`done: ${formatCount(result.imagesSeen)} images in ${formatDuration(result.elapsedSeconds)}; checkpoint ${result.checkpoint}; grid ${result.grid}; log ${result.log}`);
  if (result.emaInitialShare > 0.01) {
    console.warn(
      `warning: after ${result.steps} steps the EMA still holds ${(100 * result.emaInitialShare).toFixed(1)}% of the initial weights, so its samples and grids are off ` +
        '(a constant per-step training.ema.decay is made for long runs). Sample the raw weights (`stagediff sample --weights net`), train longer, ' +
        'or use the half-life EMA: --set training.ema.kind=halflife (see docs/training.md)',
    );
  }
}

/** The train arguments without --gpus: what each rank runs. */
function withoutGpus(argv: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--gpus') i++;
    else if (!argv[i].startsWith('--gpus=')) out.push(argv[i]);
  }
  return out;
}

/**
 * With neither --preset nor --config, every setting would be a default: a 200M-image run of the paper's
 * network. That is refused, except when resuming, where the checkpoint's own config is the base.
 */
function baseConfig(values: ConfigFlags, resume: boolean | string): Record<string, unknown> {
  if (values.preset || values.config) return {};
  if (resume) {
    const where = typeof resume === 'string' ? resume : values['run-dir'];
    if (where === undefined) throw new Error('--resume needs --run-dir DIR (the run to continue), or --preset/--config naming it');
    if (!existsSync(where)) throw new Error(`cannot resume: ${where} does not exist (leave out --resume to start a new run there)`);
    if (typeof resume === 'string' || listCheckpoints(where).length > 0) return savedConfig(readCheckpointState<TrainingState>(where).state) as unknown as Record<string, unknown>;
  }
  throw new Error(
    `train needs --preset NAME or --config FILE (presets: ${Object.keys(TRAIN_PRESETS).join(', ')}); ` +
      'the defaults alone describe a 200M-image run of a large network. For a first run: stagediff train --preset quickstart',
  );
}

function minutesFlag(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const m = Number(value);
  if (!(m > 0)) throw new Error(`--minutes must be a positive number, got "${value}"`);
  return m * 60;
}

/**
 * Trains with a progress bar and log lines on stderr; shared by `train` and the quickstart. As a rank of a
 * training group (`ranks`), on this rank's GPU and through NCCL; ranks other than 0 print nothing.
 */
export async function runTraining(raw: Record<string, unknown>, options: { resume: boolean | string; stopAtImages?: number; stopAfterSeconds?: number; ranks?: RankEnvironment }) {
  const resolved = resolveTrainConfig(raw);
  const { ranks } = options;
  if (ranks && resolved.device === 'cpu') throw new Error('a rank of a training group trains on a GPU through NCCL: device cpu is not possible where RANK and WORLD_SIZE are set');
  if (ranks) selectLocalGpu(ranks.localRank);
  const device = await useDevice(ranks ? 'cuda' : resolved.device, resolved.precision);
  const communicator = ranks ? await NcclCommunicator.connect(ranks) : undefined;
  try {
    return await trainWithProgress(raw, device, options, communicator);
  } finally {
    communicator?.close();
  }
}

async function trainWithProgress(raw: Record<string, unknown>, device: string, options: { resume: boolean | string; stopAtImages?: number; stopAfterSeconds?: number }, communicator: NcclCommunicator | undefined) {
  const trainer = await Trainer.create(raw, { resume: options.resume, communicator });
  if (communicator && communicator.rank !== 0) return trainer.run({ stopAtImages: options.stopAtImages, stopAfterSeconds: options.stopAfterSeconds });
  const c = trainer.config;
  const bar = new ProgressBar('train');
  if (communicator) bar.line(`${communicator.size} ranks (${communicator.description} on rank 0), ${formatCount(c.training.batchSize / communicator.size)} images of each batch per rank`);
  bar.line(`stagediff train: ${c.model.kind} model (${formatCount(trainer.model.net.numParameters())} parameters, stages at sigma ${trainer.model.partition.boundaries.map((b) => +b.toPrecision(5)).join(', ') || 'none'}), ${c.formulation.kind} formulation, ${trainer.dataset.name} (${trainer.dataset.length} images ${trainer.dataset.imageShape.join('x')}), on ${device}`);
  if (trainer.resumed) {
    bar.line(`resumed from ${trainer.resumed} at ${formatCount(trainer.imagesSeen)} images${trainer.resumeVerified ? '' : ' (written before checkpoints had checksums: loaded without verifying its data)'}`);
    for (const change of trainer.resumeChanges) bar.line(`  changed on resume: ${describeChange(change)}`);
  }
  // The report is a view of the run: failing to write it must never stop training.
  const refreshReport = () => {
    try {
      writeReport([c.runDir], join(c.runDir, REPORT_FILE));
    } catch (e) {
      bar.line(`warning: ${join(c.runDir, REPORT_FILE)} not refreshed: ${(e as Error).message}`);
    }
  };
  const result = await trainer.run({
    stopAtImages: options.stopAtImages,
    stopAfterSeconds: options.stopAfterSeconds,
    events: {
      onStep: (p) => bar.update(p.images, Math.min(p.totalImages, options.stopAtImages ?? Infinity), `${p.imagesPerSecond.toFixed(1)} img/s loss ${p.loss.toFixed(4)}`),
      onLog: (e) =>
        bar.line(
          `${formatCount(e.images)} img  step ${e.step}  loss ${e.loss.toFixed(4)}  per stage ${e.lossPerStage.map((l) => (l === null ? '-' : l.toFixed(4))).join(' / ')}  ${e.imagesPerSecond.toFixed(1)} img/s  lr ${e.lr.toExponential(2)}`,
        ),
      onCheckpoint: (p) => bar.line(`checkpoint ${p}`),
      onGrid: (p) => {
        bar.line(`sample grid ${p}`);
        refreshReport();
      },
      onNotice: (text) => bar.line(text),
      onStart: () => recordRunStart(c.runDir, c, currentEnvironment(device, trainer.imagesSeen)),
    },
  });
  bar.finish();
  return result;
}
