/**
 * The training loop: data, stage sampling, loss, Adam with LR ramp-up, gradient sanitising and clipping,
 * EMA, logs, sample grids and checkpoints. Every random number comes from two seeded Philox streams (the
 * trainer's and the data loader's) whose positions are checkpointed, so a resumed run computes exactly
 * what an uninterrupted one would (bit for bit on the CPU backend).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '../tensor/index.js';
import { Generator, type GeneratorState } from '../tensor/index.js';
import { hostTensor } from '../nn/state-dict-file.js';
import type { HostTensor } from '../nn/safetensors.js';
import { StagePartition } from '../stages/stage-partition.js';
import { DataLoader, type LoaderBatch, type LoaderPosition } from '../data/loader.js';
import type { Dataset } from '../data/dataset.js';
import { imagesToTensor } from '../data/images-to-tensor.js';
import { AUGMENT_LABEL_DIM } from '../data/augment.js';
import { openDataset } from '../data/open-dataset.js';
import { writePngGrid } from '../data/png.js';
import { sample } from '../diffusion/sample.js';
import { oneHot } from '../diffusion/guidance.js';
import { type TrainConfig, resolveTrainConfig } from './config.js';
import { type DiffusionModel, partitionFromConfig } from './diffusion-model.js';
import { StageSampler } from './stage-sampling.js';
import { type MicroBatch, type TrainingParts, buildTrainingParts, emaSchedule, stepSchedule, trainStep } from './train-step.js';
import { type StepGraphs, stepGraphsFor } from './step-graphs.js';
import { emaInitialShare } from './ema.js';
import { type LogEntry, LogWindow } from './log-window.js';
import { listCheckpoints, readCheckpoint, removeStaleTemporaries, setAsideNewerCheckpoints, withPrefix, writeCheckpoint } from './checkpoint.js';
import { type ConfigChange, checkResumeChanges, savedConfig } from './resume-config.js';
import { acquireRunLock } from './run-lock.js';
import { makeOutputDir } from '../util/output-dir.js';
import { JsonlLog } from './jsonl-log.js';
import type { Communicator } from '../distributed/communicator.js';
import { DataParallel } from './data-parallel.js';
import { SharedDecoder } from './shared-decoder.js';
import { MultistageUNet } from '../models/multistage-unet.js';

export type { LogEntry };

/** What a checkpoint's metadata holds besides the tensors. */
export interface TrainingState {
  step: number;
  imagesSeen: number;
  generator: GeneratorState;
  loader: LoaderPosition;
  adamSteps: Record<string, number>;
  config: TrainConfig;
  imageShape: number[];
  partition: { sigma_boundaries: number[] };
  elapsedSeconds: number;
  /**
   * A multistage network's decoder per stage as the weights were trained (training.sharedDecoderImages:
   * before its switch the same-width stages run decoder 0 and their own decoders are untrained); sampling
   * from the checkpoint routes the same way. Absent for unified networks and older checkpoints.
   */
  decoderOf?: number[];
}

export interface TrainEvents {
  onLog?(entry: LogEntry): void;
  /** After every optimizer step. */
  onStep?(progress: { images: number; totalImages: number; loss: number; imagesPerSecond: number }): void;
  onCheckpoint?(path: string): void;
  onGrid?(path: string): void;
  /** Something the user should know that is not an error (a stale lock replaced, checkpoints set aside). */
  onNotice?(message: string): void;
  /** Once the run folder exists and this process holds its lock, before the first step. */
  onStart?(): void;
}

export interface TrainOptions {
  /** Continue from the newest checkpoint of the run folder (or this file). */
  resume?: boolean | string;
  /** Stop (after a checkpoint) once this many images are seen, below totalImages: for tests and time-boxed runs. */
  stopAtImages?: number;
  /** Stop (after a checkpoint and a grid) once this run has trained this many seconds. */
  stopAfterSeconds?: number;
  events?: TrainEvents;
  /**
   * Data-parallel training: this process is one rank of the group (src/distributed/); every rank trains
   * its share of each batch, rank 0 alone writes the run folder and sends events.
   */
  communicator?: Communicator;
}

export interface TrainResult {
  model: DiffusionModel;
  ema: DiffusionModel;
  imagesSeen: number;
  steps: number;
  elapsedSeconds: number;
  finalLossPerStage: (number | null)[];
  imagesPerSecond: number;
  checkpoint: string | null;
  grid: string | null;
  log: string;
  /** Share of the initial weights still in the EMA (emaInitialShare): above ~1%, its samples are off. */
  emaInitialShare: number;
}

function namedTensors(prefix: string, m: Map<string, T.Tensor>): [string, HostTensor][] {
  return [...m].map(([k, t]) => [`${prefix}.${k}`, hostTensor(t)]);
}

export class Trainer {
  readonly model: DiffusionModel;
  readonly ema: DiffusionModel;
  /** training.cudaGraphs' step graphs while a run trains (null: off). */
  private graphs: StepGraphs | null = null;
  /** training.sharedDecoderImages' routing and switch (null: off). */
  private readonly sharedDecoder: SharedDecoder | null;

  private constructor(
    readonly config: TrainConfig,
    readonly dataset: Dataset,
    private readonly parts: TrainingParts,
    private readonly generator: Generator,
    private readonly loader: DataLoader,
    private readonly stageSampler: StageSampler,
    private state: TrainingProgress,
    private readonly resumedFrom: string | null,
    /** Settings this run changed from the checkpoint it resumed (learning rate, clipping, outputs...). */
    readonly resumeChanges: readonly ConfigChange[] = [],
    /** False when the resumed checkpoint predates checksums and was loaded unverified. */
    readonly resumeVerified = true,
    private readonly parallel: DataParallel | null = null,
  ) {
    this.model = parts.model;
    this.ema = parts.ema;
    this.sharedDecoder = SharedDecoder.create(parts, config.training.sharedDecoderImages, config.training.batchSize, config.training.sharedDecoderMoments);
  }

  /** Builds everything from a config (validated here), resuming from a checkpoint when asked. */
  static async create(rawConfig: unknown, options: TrainOptions = {}): Promise<Trainer> {
    const config = resolveTrainConfig(rawConfig);
    const resume = findResume(config, options.resume);
    const dataset = await openDataset({ ...config.data, seed: 0 });
    const imageShape = [...dataset.imageShape];
    if (resume && resume.checkpoint.state.imageShape.join() !== imageShape.join()) {
      throw new Error(`${resume.checkpoint.path} was trained on ${resume.checkpoint.state.imageShape.join('x')} images, the data is ${imageShape.join('x')}`);
    }
    const partition = resume ? StagePartition.fromJSON(resume.checkpoint.state.partition) : configuredPartition(config);
    const parts = buildTrainingParts(config, imageShape, partition, new Generator(config.seed));
    const stageSampler = new StageSampler(config.training.stageSampling, partition, parts.model.noiseDistribution(), config.training.stageShares ?? undefined);
    const progress = resume ? restoreCheckpoint(parts, resume.checkpoint) : { state: { step: 0, imagesSeen: 0, elapsedSeconds: 0 }, generator: new Generator(config.seed + 1), loader: undefined };
    checkLabels(dataset, parts.model.labelDim);
    const augment = config.training.augment;
    if (augment !== null && parts.model.augmentDim !== AUGMENT_LABEL_DIM) {
      throw new Error(`training.augment needs a network that takes EDM's ${AUGMENT_LABEL_DIM} augmentation labels: set model.network.augment_dim to ${AUGMENT_LABEL_DIM} (it is ${parts.model.augmentDim}), or training.augment to null`);
    }
    if (dataset.length < config.training.batchSize) throw new Error(`${dataset.name} has ${dataset.length} images, fewer than training.batchSize (${config.training.batchSize})`);
    const parallel = options.communicator ? new DataParallel(options.communicator, config, parts.model, progress.generator.state()) : null;
    // Every optimizer step sees a full batch, as EDM's infinite sampler gives.
    // The augmentation's x-flips (with their label) take the place of the loader's.
    const flip = config.data.flip && augment === null;
    const augmentation = augment === null ? undefined : { probability: augment, seed: config.seed + 3 };
    const share = parallel?.batchPositions(config.training.batchSize);
    const loader = new DataLoader(dataset, { batchSize: config.training.batchSize, seed: config.seed + 2, flip, augment: augmentation, dropLast: true, position: progress.loader, share });
    const c = resume?.checkpoint;
    const generator = parallel?.generator ?? progress.generator;
    return new Trainer(config, dataset, parts, generator, loader, stageSampler, progress.state, c?.path ?? null, resume?.changes ?? [], c?.verified ?? true, parallel);
  }

  get resumed(): string | null {
    return this.resumedFrom;
  }

  get imagesSeen(): number {
    return this.state.imagesSeen;
  }

  /**
   * Trains in the run folder, holding its lock: a second process training into it is refused. In a
   * data-parallel group rank 0 holds it, and a rank that fails ends the group with its message.
   */
  async run(options: TrainOptions = {}): Promise<TrainResult> {
    try {
      return this.leader ? await this.runHoldingLock(options) : await this.train({ ...options, events: {} });
    } catch (e) {
      this.parallel?.communicator.abort(`rank ${this.parallel.rank}: ${(e as Error).message}`);
      throw e;
    } finally {
      this.graphs?.dispose();
      this.graphs = null;
    }
  }

  private async runHoldingLock(options: TrainOptions): Promise<TrainResult> {
    const { runDir } = this.config;
    makeOutputDir(runDir, 'runDir');
    const lock = acquireRunLock(runDir);
    try {
      const notice = options.events?.onNotice;
      if (lock.replacedStale !== null) notice?.(`${runDir}: replaced the lock of process ${lock.replacedStale}, which is no longer running`);
      if (this.resumedFrom) {
        const aside = setAsideNewerCheckpoints(runDir, this.state.imagesSeen);
        if (aside) notice?.(`${runDir} held checkpoints newer than ${this.resumedFrom}: moved them and a copy of log.jsonl to ${aside}`);
      }
      options.events?.onStart?.();
      return await this.train(options);
    } finally {
      lock.release();
    }
  }

  /** Whether this process writes the run folder: a run on its own, or rank 0 of a group. */
  get leader(): boolean {
    return (this.parallel?.rank ?? 0) === 0;
  }

  private async train(options: TrainOptions): Promise<TrainResult> {
    const { config, model } = this;
    const out = config.output;
    const leader = this.leader;
    if (leader) removeStaleTemporaries(config.runDir);
    // Lines past the resumed checkpoint came from the interrupted run and are about to be redone.
    const logPath = join(config.runDir, 'log.jsonl');
    const log = leader ? new JsonlLog(logPath, this.state.imagesSeen) : null;
    const events = options.events ?? {};
    const stopAt = Math.min(config.training.totalImages, options.stopAtImages ?? Infinity);
    const window = new LogWindow(model.partition, this.state.imagesSeen);
    let lastCheckpoint: string | null = null;
    let lastGrid: string | null = null;
    let lastLossPerStage: (number | null)[] = new Array<number | null>(model.partition.numStages).fill(null);
    // The training clock leaves out the time spent writing grids and checkpoints, so that a time budget
    // and checkpoints at minute marks measure training alone, whatever the outputs cost.
    let startedAt = performance.now() - this.state.elapsedSeconds * 1000;
    const writingOutputs = <R>(write: () => R): R => {
      const t0 = performance.now();
      const result = write();
      startedAt += performance.now() - t0;
      return result;
    };
    const budgetSeconds = this.state.elapsedSeconds + (options.stopAfterSeconds ?? Infinity);
    const checkpointEverySeconds = out.checkpointEveryMinutes === null ? Infinity : out.checkpointEveryMinutes * 60;
    const crossed = (every: number, before: number, after: number) => Math.floor(after / every) > Math.floor(before / every);
    model.net.train(true);
    this.graphs = stepGraphsFor(config.training.cudaGraphs, this.parts, (text) => events.onNotice?.(text));

    const iterator = this.loader[Symbol.asyncIterator]();
    let done = this.state.imagesSeen >= stopAt;
    while (!done) {
      const next = await iterator.next();
      if (next.done) throw new Error('internal: the data loader ended');
      const before = this.state.imagesSeen;
      const secondsBefore = this.state.elapsedSeconds;
      const loss = this.step(next.value, window, () => (performance.now() - startedAt) / 1000 >= budgetSeconds);
      const now = performance.now();
      this.state.elapsedSeconds = (now - startedAt) / 1000;
      events.onStep?.({ images: this.state.imagesSeen, totalImages: config.training.totalImages, loss, imagesPerSecond: window.rate(this.state.imagesSeen, now) });
      // The ranks of a group stop together: at the time budget, when any of them reached it.
      done = this.state.imagesSeen >= stopAt || (this.parallel ? this.parallel.stopRequested : this.state.elapsedSeconds >= budgetSeconds);

      if (done || crossed(out.logEveryImages, before, this.state.imagesSeen)) {
        lastLossPerStage = window.lossPerStage();
        const entry = window.close({ step: this.state.step, images: this.state.imagesSeen, lr: this.parts.optimizer.lr, elapsedSeconds: this.state.elapsedSeconds }, now);
        log?.write(entry);
        events.onLog?.(entry);
      }
      if (leader && (done || crossed(out.snapshotEveryImages, before, this.state.imagesSeen))) {
        lastGrid = writingOutputs(() => this.writeGrid());
        events.onGrid?.(lastGrid);
      }
      if (leader && (done || crossed(out.checkpointEveryImages, before, this.state.imagesSeen) || crossed(checkpointEverySeconds, secondsBefore, this.state.elapsedSeconds))) {
        lastCheckpoint = writingOutputs(() => this.checkpoint());
        events.onCheckpoint?.(lastCheckpoint);
      }
    }
    await iterator.return?.(undefined);
    return {
      model,
      ema: this.ema,
      imagesSeen: this.state.imagesSeen,
      steps: this.state.step,
      elapsedSeconds: this.state.elapsedSeconds,
      finalLossPerStage: lastLossPerStage,
      imagesPerSecond: this.state.imagesSeen / Math.max(this.state.elapsedSeconds, 1e-9),
      checkpoint: lastCheckpoint,
      grid: lastGrid,
      log: logPath,
      emaInitialShare: emaInitialShare(emaSchedule(config), this.state.step, config.training.batchSize),
    };
  }

  /**
   * One optimizer step on a loader batch, split into micro-batches; returns its weighted loss. A rank of a
   * group trains its share of each micro-batch (the loader gives it only that share).
   */
  private step(batch: LoaderBatch, window: LogWindow, timeUp: () => boolean): number {
    const { config, model, parallel } = this;
    const t = config.training;
    const micro = parallel?.share.count ?? t.microBatch ?? t.batchSize;
    const [, c, h, w] = batch.shape;
    const before = this.state.imagesSeen;
    // the graphs captured while stages shared decoder 0 would replay its routing
    if (this.sharedDecoder?.beforeStep(before)) this.graphs?.dispose();
    const uniforms = (n: number) => this.generator.uniformHost(n);
    const microBatch = (index: number): MicroBatch => {
      const start = index * micro;
      if (index > 0) parallel?.alignGenerators();
      const noise = parallel ? parallel.noise(index, this.stageSampler, uniforms) : this.stageSampler.draw(micro, uniforms);
      const [from, to] = [start * c * h * w, (start + micro) * c * h * w];
      const shape = [micro, c, h, w] as const;
      const augmented = batch.augmented;
      return {
        sigma: noise.sigma,
        weight: noise.weight,
        images: () => (augmented ? T.fromArray(augmented.images.slice(from, to), shape) : imagesToTensor(batch.images.subarray(from, to), shape)),
        classLabels: model.labelDim > 0 ? () => oneHot(batch.labels!.subarray(start, start + micro), model.labelDim) : undefined,
        augmentLabels: augmented ? () => T.fromArray(augmented.labels.slice(start * AUGMENT_LABEL_DIM, (start + micro) * AUGMENT_LABEL_DIM), [micro, AUGMENT_LABEL_DIM]) : undefined,
      };
    };
    const schedule = stepSchedule(config, before, this.state.step + 1);
    const reduce = parallel ? (loss: number) => parallel.reduceStep(loss, timeUp()) : undefined;
    const settings = { batchSize: t.batchSize, microBatches: batch.shape[0] / micro, gradClip: t.gradClip, reduce, lastBackward: parallel?.lastBackward, graphs: this.graphs ?? undefined, ...schedule };
    const result = trainStep(this.parts, this.generator, settings, microBatch, parallel ? (_, loss) => parallel.addSampleLoss(loss) : (sigma, loss) => window.addSample(sigma, loss));
    if (parallel) {
      const all = parallel.lastStep();
      all.sigma.forEach((sigma, i) => window.addSample(sigma, all.loss[i]));
    }
    if (!result.applied) {
      // Stopped before the weights took the step: nothing written after this point holds NaN weights.
      const last = listCheckpoints(config.runDir).at(-1);
      throw new Error(
        `the loss became ${result.loss} at step ${this.state.step + 1} (after ${this.state.imagesSeen} images); the weights were not updated. ` +
          `Lower training.lr or set training.gradClip, then resume${last ? ` from ${last}` : ''} with --resume`,
      );
    }
    window.addStep(result.loss, result.repaired);
    this.state.step++;
    this.state.imagesSeen += t.batchSize;
    return result.loss;
  }

  /** A grid of EMA samples (EDM Heun), the same noise every time; a class-conditional model's cycles through its classes. */
  writeGrid(): string {
    const g = this.config.output.grid;
    const path = join(this.config.runDir, `grid-${String(this.state.imagesSeen).padStart(12, '0')}.png`);
    const k = this.ema.labelDim;
    const classes = k > 0 ? { classes: Array.from({ length: g.count }, (_, i) => i % k), numClasses: k } : {};
    const result = sample({ model: this.ema.denoiser(), shape: this.model.imageShape, batch: g.count, seed: g.seed, steps: g.steps, sampler: 'heun', partition: this.model.partition, ...classes });
    writePngGrid(path, result.images);
    result.images.dispose();
    return path;
  }

  checkpoint(): string {
    const { model, ema, optimizer } = this.parts;
    const adam = optimizer.stateDict();
    const state: TrainingState = {
      step: this.state.step,
      imagesSeen: this.state.imagesSeen,
      generator: this.generator.state(),
      loader: this.loader.position(),
      adamSteps: adam.steps,
      config: this.config,
      imageShape: [...model.imageShape],
      partition: model.partition.toJSON(),
      elapsedSeconds: this.state.elapsedSeconds,
      ...(ema.unet instanceof MultistageUNet ? { decoderOf: [...ema.unet.decoderOf] } : {}),
    };
    const tensors = [...namedTensors('net', model.net.stateDict()), ...namedTensors('ema', ema.net.stateDict()), ...[...adam.tensors].map(([k, v]) => [`adam.${k}`, v] as [string, HostTensor])];
    return writeCheckpoint(this.config.runDir, this.state.imagesSeen, tensors, state, this.config.output.keepCheckpoints);
  }
}

/** A class-conditional network needs a labelled dataset whose classes it can represent. */
function checkLabels(dataset: Dataset, labelDim: number): void {
  if (labelDim === 0) return;
  if (!dataset.getLabels) throw new Error(`model.network.label_dim is ${labelDim} (class-conditional) but ${dataset.name} has no labels: use a labelled source (shapes, cifar10, mnist with its labels file) or set label_dim to 0`);
  const classes = dataset.classNames?.length;
  if (classes !== undefined && classes > labelDim) throw new Error(`model.network.label_dim is ${labelDim} but ${dataset.name} has ${classes} classes: set label_dim to ${classes}`);
}

export function readPartitionFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`model.stagesFrom: cannot read ${path} (${(e as Error).message}); write one with \`stagediff cluster --out ${path}\``);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new Error(`model.stagesFrom: ${path} is not valid JSON (${(e as Error).message})`);
  }
}

type TrainingProgress = { step: number; imagesSeen: number; elapsedSeconds: number };
type ResumeCheckpoint = ReturnType<typeof readCheckpoint<TrainingState>>;

/**
 * The checkpoint a run continues from (null: a new run) and the settings it changes. A new run may not
 * start in a folder that already holds one's checkpoints.
 */
function findResume(config: TrainConfig, resume: TrainOptions['resume']): { checkpoint: ResumeCheckpoint; changes: ConfigChange[] } | null {
  if (!resume) {
    if (listCheckpoints(config.runDir).length > 0) throw new Error(`${config.runDir} already holds checkpoints of a run: continue it with --resume, or choose another run folder (--run-dir)`);
    return null;
  }
  const where = typeof resume === 'string' ? resume : config.runDir;
  if (!existsSync(where)) throw new Error(`cannot resume: ${where} does not exist (leave out --resume to start a new run there)`);
  // --resume on an empty run folder starts it.
  if (typeof resume !== 'string' && listCheckpoints(where).length === 0) return null;
  const checkpoint = readCheckpoint<TrainingState>(where);
  // Older checkpoints lack fields added since: their defaults are what those runs used.
  const changes = checkResumeChanges(resolveTrainConfig(savedConfig(checkpoint.state)), config, checkpoint.path);
  return { checkpoint, changes };
}

/** The partition of a new run: the config's boundaries or its stagesFrom file. */
function configuredPartition(config: TrainConfig): StagePartition {
  const partitionFile = config.model.stagesFrom ? readPartitionFile(config.model.stagesFrom) : undefined;
  return partitionFromConfig(config.model, config.formulation, partitionFile);
}

/** Loads the weights, EMA and optimizer state of a checkpoint; returns where its run stood. */
function restoreCheckpoint(parts: TrainingParts, checkpoint: ResumeCheckpoint): { state: TrainingProgress; generator: Generator; loader: LoaderPosition } {
  const { tensors, state: s, path } = checkpoint;
  try {
    parts.model.net.loadStateDict(withPrefix(tensors, 'net'));
    parts.ema.net.loadStateDict(withPrefix(tensors, 'ema'));
    parts.optimizer.loadStateDict({ steps: s.adamSteps, tensors: withPrefix(tensors, 'adam') });
  } catch (e) {
    throw new Error(`${path} does not fit this model: ${(e as Error).message}`);
  }
  return { state: { step: s.step, imagesSeen: s.imagesSeen, elapsedSeconds: s.elapsedSeconds }, generator: Generator.fromState(s.generator), loader: s.loader };
}
