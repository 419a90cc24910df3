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
import { Adam, AdamW } from '../optim/adam.js';
import { hostTensor } from '../nn/state-dict-file.js';
import type { HostTensor } from '../nn/safetensors.js';
import { StagePartition } from '../stages/stage-partition.js';
import { DataLoader, type LoaderPosition } from '../data/loader.js';
import type { Dataset } from '../data/dataset.js';
import { imagesToTensor } from '../data/images-to-tensor.js';
import { openDataset } from '../data/open-dataset.js';
import { writePngGrid } from '../data/png.js';
import { sample } from '../diffusion/sample.js';
import { oneHot } from '../diffusion/guidance.js';
import { type TrainConfig, resolveTrainConfig } from './config.js';
import { DiffusionModel, buildDiffusionModel, partitionFromConfig } from './diffusion-model.js';
import { StageSampler } from './stage-sampling.js';
import { emaDecay, emaUpdate } from './ema.js';
import { learningRate } from './lr-schedule.js';
import { listCheckpoints, readCheckpoint, removeStaleTemporaries, setAsideNewerCheckpoints, withPrefix, writeCheckpoint } from './checkpoint.js';
import { type ConfigChange, checkResumeChanges, savedConfig } from './resume-config.js';
import { acquireRunLock } from './run-lock.js';
import { makeOutputDir } from '../util/output-dir.js';
import { prepareGradients } from './gradients.js';
import { JsonlLog } from './jsonl-log.js';

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
}

export interface LogEntry {
  step: number;
  images: number;
  lr: number;
  /** Mean weighted loss of the steps since the last entry. */
  loss: number;
  /** Mean unweighted per-sample loss of each stage since the last entry (null: no sample in that stage). */
  lossPerStage: (number | null)[];
  samplesPerStage: number[];
  imagesPerSecond: number;
  elapsedSeconds: number;
  /** Optimizer steps since the last entry whose gradients had NaN/Inf (repaired as EDM does). */
  nonFiniteSteps: number;
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
}

function copyWeights(from: DiffusionModel, to: DiffusionModel): void {
  const state = new Map<string, HostTensor>([...from.net.stateDict()].map(([k, t]) => [k, hostTensor(t)]));
  to.net.loadStateDict(state);
}

function namedTensors(prefix: string, m: Map<string, T.Tensor>): [string, HostTensor][] {
  return [...m].map(([k, t]) => [`${prefix}.${k}`, hostTensor(t)]);
}

export class Trainer {
  private constructor(
    readonly config: TrainConfig,
    readonly dataset: Dataset,
    readonly model: DiffusionModel,
    readonly ema: DiffusionModel,
    private readonly optimizer: Adam,
    private readonly generator: Generator,
    private readonly loader: DataLoader,
    private readonly stageSampler: StageSampler,
    private state: { step: number; imagesSeen: number; elapsedSeconds: number },
    private readonly resumedFrom: string | null,
    /** Settings this run changed from the checkpoint it resumed (learning rate, clipping, outputs...). */
    readonly resumeChanges: readonly ConfigChange[] = [],
    /** False when the resumed checkpoint predates checksums and was loaded unverified. */
    readonly resumeVerified = true,
  ) {}

  /** Builds everything from a config (validated here), resuming from a checkpoint when asked. */
  static async create(rawConfig: unknown, options: TrainOptions = {}): Promise<Trainer> {
    let config = resolveTrainConfig(rawConfig);
    let resumeFrom: ReturnType<typeof readCheckpoint<TrainingState>> | null = null;
    if (!options.resume && listCheckpoints(config.runDir).length > 0) {
      throw new Error(`${config.runDir} already holds checkpoints of a run: continue it with --resume, or choose another run folder (--run-dir)`);
    }
    let resumeChanges: ConfigChange[] = [];
    if (options.resume) {
      const where = typeof options.resume === 'string' ? options.resume : config.runDir;
      if (!existsSync(where)) throw new Error(`cannot resume: ${where} does not exist (leave out --resume to start a new run there)`);
      if (typeof options.resume === 'string' || listCheckpoints(where).length > 0) {
        resumeFrom = readCheckpoint<TrainingState>(where);
        // Older checkpoints lack fields added since: their defaults are what those runs used.
        resumeChanges = checkResumeChanges(resolveTrainConfig(savedConfig(resumeFrom.state)), config, resumeFrom.path);
      }
    }
    const dataset = await openDataset({ ...config.data, seed: 0 });
    const imageShape = [...dataset.imageShape];
    if (resumeFrom && resumeFrom.state.imageShape.join() !== imageShape.join()) {
      throw new Error(`${resumeFrom.path} was trained on ${resumeFrom.state.imageShape.join('x')} images, the data is ${imageShape.join('x')}`);
    }
    const partitionFile = config.model.stagesFrom ? readPartitionFile(config.model.stagesFrom) : undefined;
    const partition = resumeFrom ? StagePartition.fromJSON(resumeFrom.state.partition) : partitionFromConfig(config.model, config.formulation, partitionFile);
    const spec = { model: config.model, formulation: config.formulation, imageShape };
    const generator = new Generator(config.seed);
    const model = buildDiffusionModel(spec, partition, generator);
    const ema = buildDiffusionModel(spec, partition, 'empty');
    copyWeights(model, ema);
    ema.net.train(false);
    const a = config.training.adam;
    const OptimizerClass = a.weightDecay > 0 ? AdamW : Adam;
    const optimizer = new OptimizerClass(model.net.namedParameters(), { lr: config.training.lr, betas: [a.beta1, a.beta2], eps: a.eps, weightDecay: a.weightDecay });
    const stageSampler = new StageSampler(config.training.stageSampling, partition, model.noiseDistribution(), config.training.stageShares ?? undefined);
    let state = { step: 0, imagesSeen: 0, elapsedSeconds: 0 };
    let trainerGenerator = new Generator(config.seed + 1);
    let loaderPosition: LoaderPosition | undefined;
    if (resumeFrom) {
      const { tensors, state: s, path } = resumeFrom;
      try {
        model.net.loadStateDict(withPrefix(tensors, 'net'));
        ema.net.loadStateDict(withPrefix(tensors, 'ema'));
        optimizer.loadStateDict({ steps: s.adamSteps, tensors: withPrefix(tensors, 'adam') });
      } catch (e) {
        throw new Error(`${path} does not fit this model: ${(e as Error).message}`);
      }
      state = { step: s.step, imagesSeen: s.imagesSeen, elapsedSeconds: s.elapsedSeconds };
      trainerGenerator = Generator.fromState(s.generator);
      loaderPosition = s.loader;
    }
    checkLabels(dataset, model.labelDim);
    if (dataset.length < config.training.batchSize) throw new Error(`${dataset.name} has ${dataset.length} images, fewer than training.batchSize (${config.training.batchSize})`);
    // Every optimizer step sees a full batch, as EDM's infinite sampler gives.
    const loader = new DataLoader(dataset, { batchSize: config.training.batchSize, seed: config.seed + 2, flip: config.data.flip, dropLast: true, position: loaderPosition });
    return new Trainer(config, dataset, model, ema, optimizer, trainerGenerator, loader, stageSampler, state, resumeFrom?.path ?? null, resumeChanges, resumeFrom?.verified ?? true);
  }

  get resumed(): string | null {
    return this.resumedFrom;
  }

  get imagesSeen(): number {
    return this.state.imagesSeen;
  }

  /** Trains in the run folder, holding its lock: a second process training into it is refused. */
  async run(options: TrainOptions = {}): Promise<TrainResult> {
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

  private async train(options: TrainOptions): Promise<TrainResult> {
    const { config, model } = this;
    const t = config.training;
    const out = config.output;
    removeStaleTemporaries(config.runDir);
    // Lines past the resumed checkpoint came from the interrupted run and are about to be redone.
    const log = new JsonlLog(join(config.runDir, 'log.jsonl'), this.state.imagesSeen);
    const events = options.events ?? {};
    const stopAt = Math.min(t.totalImages, options.stopAtImages ?? Infinity);
    const micro = t.microBatch ?? t.batchSize;
    const k = model.partition.numStages;
    const stageSums = new Float64Array(k);
    const stageCounts = new Float64Array(k);
    let lastLoss = NaN;
    // The logged loss is the mean over the steps since the previous entry: one step's loss swings with
    // the stage its batch drew.
    let lossSum = 0;
    let lossSteps = 0;
    let nonFinite = 0;
    let lastLogImages = this.state.imagesSeen;
    let lastLogTime = performance.now();
    let lastCheckpoint: string | null = null;
    let lastGrid: string | null = null;
    let lastLossPerStage: (number | null)[] = new Array<number | null>(k).fill(null);
    const startedAt = performance.now() - this.state.elapsedSeconds * 1000;
    const deadline = performance.now() + (options.stopAfterSeconds ?? Infinity) * 1000;
    const crossed = (every: number, before: number, after: number) => Math.floor(after / every) > Math.floor(before / every);
    model.net.train(true);

    const iterator = this.loader[Symbol.asyncIterator]();
    let done = this.state.imagesSeen >= stopAt;
    while (!done) {
      const next = await iterator.next();
      if (next.done) throw new Error('internal: the data loader ended');
      const batch = next.value;
      const before = this.state.imagesSeen;
      let weightedLoss = 0;
      for (let start = 0; start < t.batchSize; start += micro) {
        const images = batch.images.subarray(start * batch.shape[1] * batch.shape[2] * batch.shape[3], (start + micro) * batch.shape[1] * batch.shape[2] * batch.shape[3]);
        const noise = this.stageSampler.draw(micro, (n) => this.generator.uniformHost(n));
        T.tidy(() => {
          const x0 = imagesToTensor(images, [micro, batch.shape[1], batch.shape[2], batch.shape[3]]);
          const eps = this.generator.normal(x0.shape);
          const classLabels = model.labelDim > 0 ? oneHot(batch.labels!.subarray(start, start + micro), model.labelDim) : undefined;
          const perSample = model.loss(x0, noise.sigma, eps, this.generator, classLabels);
          const values = perSample.toFloat32Array();
          values.forEach((v, i) => {
            const s = model.partition.stageOf(noise.sigma[i]);
            stageSums[s] += v;
            stageCounts[s]++;
            weightedLoss += (noise.weight[i] * v) / t.batchSize;
          });
          const weights = T.fromArray(Float32Array.from(noise.weight, (w) => w / t.batchSize), [micro]);
          T.backward(T.sum(T.mul(perSample, weights)));
        });
      }
      if (!Number.isFinite(weightedLoss)) {
        // Stop before the weights take the step: nothing written after this point holds NaN weights.
        this.optimizer.zeroGrad();
        const last = listCheckpoints(config.runDir).at(-1);
        throw new Error(
          `the loss became ${weightedLoss} at step ${this.state.step + 1} (after ${this.state.imagesSeen} images); the weights were not updated. ` +
            `Lower training.lr or set training.gradClip, then resume${last ? ` from ${last}` : ''} with --resume`,
        );
      }
      const params = model.net.parameters();
      if (prepareGradients(params, t.gradClip).repaired) nonFinite++;
      this.optimizer.lr = learningRate({ lr: t.lr, rampUpImages: t.lrRampUpImages, warmupSteps: t.warmupSteps }, before, this.state.step + 1);
      this.optimizer.step();
      this.optimizer.zeroGrad();
      emaUpdate(this.ema.net.parameters(), params, emaDecay(emaScheduleOf(config), before, t.batchSize));
      this.state.step++;
      this.state.imagesSeen += t.batchSize;
      this.state.elapsedSeconds = (performance.now() - startedAt) / 1000;
      lastLoss = weightedLoss;
      lossSum += weightedLoss;
      lossSteps++;
      const now = performance.now();
      const rate = (this.state.imagesSeen - lastLogImages) / Math.max((now - lastLogTime) / 1000, 1e-9);
      events.onStep?.({ images: this.state.imagesSeen, totalImages: t.totalImages, loss: lastLoss, imagesPerSecond: rate });
      done = this.state.imagesSeen >= stopAt || now >= deadline;

      if (done || crossed(out.logEveryImages, before, this.state.imagesSeen)) {
        lastLossPerStage = Array.from(stageSums, (s, i) => (stageCounts[i] > 0 ? s / stageCounts[i] : null));
        const entry: LogEntry = {
          step: this.state.step,
          images: this.state.imagesSeen,
          lr: this.optimizer.lr,
          loss: lossSum / lossSteps,
          lossPerStage: lastLossPerStage,
          samplesPerStage: Array.from(stageCounts),
          imagesPerSecond: rate,
          elapsedSeconds: this.state.elapsedSeconds,
          nonFiniteSteps: nonFinite,
        };
        log.write(entry);
        events.onLog?.(entry);
        stageSums.fill(0);
        stageCounts.fill(0);
        lossSum = 0;
        lossSteps = 0;
        nonFinite = 0;
        lastLogImages = this.state.imagesSeen;
        lastLogTime = now;
      }
      if (done || crossed(out.snapshotEveryImages, before, this.state.imagesSeen)) {
        lastGrid = this.writeGrid();
        events.onGrid?.(lastGrid);
      }
      if (done || crossed(out.checkpointEveryImages, before, this.state.imagesSeen)) {
        lastCheckpoint = this.checkpoint();
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
      log: log.path,
    };
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
    const { model, ema, optimizer } = this;
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

function emaScheduleOf(config: TrainConfig) {
  const e = config.training.ema;
  return e.kind === 'constant' ? ({ kind: 'constant', decay: e.decay } as const) : ({ kind: 'halflife', halfLifeImages: e.halfLifeImages, rampUpRatio: e.rampUpRatio } as const);
}

function readPartitionFile(path: string): unknown {
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
