/**
 * One optimizer step of training: per-sample loss and backward over the micro-batches, gradient repair
 * and clipping, the optimizer step and the EMA update. The trainer and `stagediff bench` both call it, so
 * the benchmark times what training does.
 */
import * as T from '../tensor/index.js';
import type { Generator } from '../tensor/index.js';
import { Adam, AdamW } from '../optim/adam.js';
import { hostTensor } from '../nn/state-dict-file.js';
import type { HostTensor } from '../nn/safetensors.js';
import type { StagePartition } from '../stages/stage-partition.js';
import type { TrainConfig } from './config.js';
import { type DiffusionModel, buildDiffusionModel } from './diffusion-model.js';
import { type EmaSchedule, emaDecay, emaUpdate } from './ema.js';
import { learningRate } from './lr-schedule.js';
import { clipGradients, repairGradients } from './gradients.js';
import type { StepGraphs } from './step-graphs.js';

/** What an optimizer step changes: the trained model, its EMA and the optimizer. */
export interface TrainingParts {
  model: DiffusionModel;
  ema: DiffusionModel;
  optimizer: Adam;
}

/** The model (initialised from `generator`), its EMA (a copy, in eval mode) and the config's optimizer. */
export function buildTrainingParts(config: TrainConfig, imageShape: readonly number[], partition: StagePartition, generator: Generator): TrainingParts {
  const spec = { model: config.model, formulation: config.formulation, imageShape };
  const model = buildDiffusionModel(spec, partition, generator);
  const ema = buildDiffusionModel(spec, partition, 'empty');
  copyWeights(model, ema);
  ema.net.train(false);
  model.net.setChannelsLast(config.training.channelsLast);
  ema.net.setChannelsLast(config.training.channelsLast);
  const a = config.training.adam;
  const OptimizerClass = a.weightDecay > 0 ? AdamW : Adam;
  const optimizer = new OptimizerClass(model.net.namedParameters(), { lr: config.training.lr, betas: [a.beta1, a.beta2], eps: a.eps, weightDecay: a.weightDecay });
  return { model, ema, optimizer };
}

function copyWeights(from: DiffusionModel, to: DiffusionModel): void {
  const state = new Map<string, HostTensor>([...from.net.stateDict()].map(([k, t]) => [k, hostTensor(t)]));
  to.net.loadStateDict(state);
}

/** The config's EMA rule. */
export function emaSchedule(config: TrainConfig): EmaSchedule {
  const e = config.training.ema;
  return e.kind === 'constant' ? { kind: 'constant', decay: e.decay } : { kind: 'halflife', halfLifeImages: e.halfLifeImages, rampUpRatio: e.rampUpRatio };
}

/** The learning rate and EMA decay of step number `step` (from 1), taken after `imagesSeen` images. */
export function stepSchedule(config: TrainConfig, imagesSeen: number, step: number): { lr: number; emaDecay: number } {
  const t = config.training;
  return {
    lr: learningRate({ lr: t.lr, rampUpImages: t.lrRampUpImages, warmupSteps: t.warmupSteps }, imagesSeen, step),
    emaDecay: emaDecay(emaSchedule(config), imagesSeen, t.batchSize),
  };
}

/** One micro-batch: its noise levels and loss weights, and its tensors, made inside the step's tidy scope. */
export interface MicroBatch {
  sigma: Float64Array;
  /** Loss weight of each sample (stage sampling's importance weights; 1 for the formulation's own distribution). */
  weight: Float64Array;
  /** Clean images [B, C, H, W]. */
  images(): T.Tensor;
  /** One-hot class labels [B, labelDim] of a class-conditional model. */
  classLabels?(): T.Tensor;
  /** EDM's augmentation labels [B, 9] when the images were augmented. */
  augmentLabels?(): T.Tensor;
}

export interface StepSettings {
  /** Images per optimizer step: the per-sample losses are averaged over it. */
  batchSize: number;
  /** Micro-batches per optimizer step; their gradients add up. */
  microBatches: number;
  lr: number;
  emaDecay: number;
  gradClip: number | null;
  /**
   * Data-parallel training: sums the gradients over the ranks and returns the loss of the whole batch
   * (train/data-parallel.ts), after backward and before the gradients are repaired, clipped and applied.
   */
  reduce?: (localLoss: number) => number;
  /**
   * Data-parallel training: told of the leaves the step's last backward pass reaches, then of each
   * gradient that pass makes final (the gradient sums start from these while backward goes on).
   */
  lastBackward?: T.BackwardHooks;
  /** CUDA graphs of the step (training.cudaGraphs): the micro-batches they can replay run from them. */
  graphs?: StepGraphs;
}

export interface StepResult {
  /** The weighted mean loss of the step. */
  loss: number;
  /** False when the loss was not finite: the gradients were dropped and the weights left as they were. */
  applied: boolean;
  /** Whether the gradients had NaN/Inf and were repaired (as EDM does). */
  repaired: boolean;
}

/** Each sample's weight in the step's mean loss: its loss weight over the images of the whole step. */
export function lossWeights(micro: MicroBatch, batchSize: number): Float32Array {
  return Float32Array.from(micro.weight, (w) => w / batchSize);
}

/**
 * Queues one micro-batch's forward and backward (its gradients add into the parameters' .grad) on the
 * `images` with loss `weights` [B]; returns the per-sample losses, a view without the tape (the losses
 * outlive the micro-batch, its graph does not).
 */
export function queueMicroBatch(model: DiffusionModel, generator: Generator, micro: MicroBatch, images: T.Tensor, weights: T.Tensor, hooks?: T.BackwardHooks): T.Tensor {
  return T.tidy(() => {
    const eps = generator.normal(images.shape);
    const losses = model.loss(images, micro.sigma, eps, generator, micro.classLabels?.(), micro.augmentLabels?.());
    const loss = T.sum(T.mul(losses, weights));
    T.backward(loss, undefined, hooks);
    // a view without the tape: the losses outlive the micro-batch, its graph does not
    return T.detach(losses);
  });
}

/**
 * Draws each micro-batch with `nextMicroBatch` (in order, right before it is used: the random streams
 * advance as in one pass), accumulates the gradients of the weighted loss, then updates the weights and
 * the EMA. `onSampleLoss` sees each sample's unweighted loss.
 *
 * The host waits for the device once a step (twice with clipping, whose scale needs the norm): every
 * micro-batch's forward and backward and the gradient repair are queued first, then the losses are read
 * (a non-finite loss leaves the weights as they were), then the optimizer and the EMA, a few launches, are
 * queued and the step returns while they run.
 */
export function trainStep(
  parts: TrainingParts,
  generator: Generator,
  settings: StepSettings,
  nextMicroBatch: (index: number) => MicroBatch,
  onSampleLoss?: (sigma: number, loss: number) => void,
): StepResult {
  const { model, ema, optimizer } = parts;
  const params = model.net.parameters();
  const gradients = () => params.flatMap((p) => (p.grad ? [p.grad] : []));
  // the micro-batches a graph cannot replay run eagerly (data-parallel steps always)
  const graphed = settings.graphs && !settings.reduce ? settings.graphs.beginStep(parts, generator, settings.batchSize, settings.microBatches) : null;
  const releaseGradients = (): void => (graphed ? graphed.release() : optimizer.zeroGrad());
  const { loss, repaired } = T.tidy(() => {
    const queued: { micro: MicroBatch; perSample: T.Tensor }[] = [];
    for (let m = 0; m < settings.microBatches; m++) {
      const micro = nextMicroBatch(m);
      const hooks = m === settings.microBatches - 1 ? settings.lastBackward : undefined;
      const perSample = graphed?.replay(micro) ?? T.tidy(() => queueMicroBatch(model, generator, micro, micro.images(), T.fromArray(lossWeights(micro, settings.batchSize), [micro.weight.length]), hooks));
      queued.push({ micro, perSample });
    }
    // On one device the repair is queued before the losses are read, so that one wait covers both; a group
    // sums the gradients first (the sum needs every rank's loss read), then repairs the sums.
    const queuedRepair = graphed?.repairFlag ?? (settings.reduce ? null : repairGradients(gradients()));
    // The one wait of the step: the first download waits for the queue, the rest find their data ready.
    let sum = 0;
    for (const { micro, perSample } of queued) {
      perSample.toFloat32Array().forEach((v, i) => {
        onSampleLoss?.(micro.sigma[i], v);
        sum += (micro.weight[i] * v) / settings.batchSize;
      });
    }
    const loss = settings.reduce ? settings.reduce(sum) : sum;
    const repairFlag = queuedRepair ?? repairGradients(gradients());
    return { loss, repaired: repairFlag.item() !== 0 };
  });
  if (!Number.isFinite(loss)) {
    releaseGradients();
    return { loss, applied: false, repaired: false };
  }
  if (settings.gradClip !== null) clipGradients(gradients(), settings.gradClip);
  optimizer.lr = settings.lr;
  optimizer.step();
  releaseGradients();
  emaUpdate(ema.net.parameters(), params, settings.emaDecay);
  return { loss, applied: true, repaired };
}
