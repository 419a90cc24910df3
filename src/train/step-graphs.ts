/**
 * CUDA graphs of the training step (training.cudaGraphs): a micro-batch's forward and backward (and, for a
 * step of one micro-batch, the gradient repair) captured once per batch composition and replayed after, so
 * that the host queues one graph instead of a thousand launches (the quickstart model is bound by exactly that).
 *
 * A replay runs the captured launches with the captured addresses, so everything a step takes from the host
 * is written into the graph's inputs (buffers outside the graph's memory pool, whose blocks the captured
 * work reuses: backend/cuda/graph.ts) before each replay: the images and their augmentation labels (copied
 * into fixed buffers), the loss weights, the per-sample tensors made from sigma (the preconditioning
 * coefficients, noise labels, loss weights or VP's scales of the formulation: models/noise-levels.ts hands
 * each to the capture with its recipe from sigma), and the Philox counter the step's noise and dropout start
 * at. The structure of the step must not depend on the data either: a batch composition is its size and its
 * samples per stage, and a mixed-stage batch must be sorted by stage (routing by slices; a gather would
 * replay the captured row order).
 *
 * Several micro-batches: each replays from its own graph, drawn and run in the eager order, and adds its
 * gradients to the step's (fixed buffers, StepGraphs.sums) as eager backward adds them; which parameters
 * the earlier micro-batches reached is part of the composition. The repair follows the last, eagerly.
 *
 * Guards: a composition runs eagerly once (cuDNN finds its algorithms, kernels compile) before it is
 * captured; whatever a capture cannot replay fails it (graph.ts); the first two replays of each graph are
 * checked against eager runs of the same micro-batches. A failure of either turns graphs off for the run
 * with one warning, and the micro-batch runs eagerly from the same random-stream position and gradients, so
 * nothing differs from a run without graphs. Micro-batches that are not eligible (data-parallel ranks, class
 * labels, unsorted mixed batches), and those after one that ran eagerly in its step, run eagerly.
 */
import * as T from '../tensor/index.js';
import { Storage, Tensor } from '../tensor/tensor.js';
import { numel } from '../base/shape.js';
import { type CudaBackend, type CudaGraph, GraphCaptureError } from '../backend/cuda/index.js';
import { withPerSampleInputs } from '../models/noise-levels.js';
import { repairGradients } from './gradients.js';
import { relativeL2 } from '../util/relative-l2.js';
import { MultistageUNet } from '../models/multistage-unet.js';
import { type MicroBatch, type TrainingParts, lossWeights, queueMicroBatch } from './train-step.js';

/** Graphs kept at once (one per batch composition; balanced stage sampling has one, two with several micro-batches a step). */
const MAX_GRAPHS = 4;
/**
 * Replays of each graph checked against eager steps: the capture's own step, and the next (a value uploaded
 * while capturing replays as the capture's step had it, which only another step's data shows).
 */
const CHECKED_REPLAYS = 2;
/** Relative L2 distance always allowed between a checked replay and the eager run. */
const CHECK_TOLERANCE = 1e-5;
/** Where two eager runs of the step differ, the replay may differ from one by this many times as much. */
const REPLAY_NOISE_FACTOR = 4;

interface CapturedStep {
  graph: CudaGraph;
  images: T.Tensor;
  /** EDM's augmentation labels of the step's images (null: not augmented). */
  augmentLabels: T.Tensor | null;
  weights: T.Tensor;
  perSample: { tensor: T.Tensor; recipe: (sigma: Float64Array) => Float32Array }[];
  losses: T.Tensor;
  /** The gradient repair the graph of a one-micro-batch step queues (null: one of several micro-batches, repaired after the last). */
  repairFlag: T.Tensor | null;
  /**
   * Where each parameter's gradient is after a replay (null: it has none): the graph's own tensors for a
   * one-micro-batch step, else the step's gradients that the graph adds into (StepGraphs.sums).
   */
  grads: (T.Tensor | null)[];
  /** Philox counter blocks a step draws. */
  blocks: number;
  /** Replays still to check against eager steps. */
  unchecked: number;
}

/** An optimizer step's side of the graphs: its micro-batches replay in order while they can, the rest run eagerly. */
export interface GraphedStep {
  /** Runs `micro` from a graph and returns its per-sample losses, or null for the caller to run it (and the rest of the step) eagerly; the generator then stands where it stood. */
  replay(micro: MicroBatch): T.Tensor | null;
  /** The gradient repair a one-micro-batch step's graph queued (null: repair eagerly). */
  readonly repairFlag: T.Tensor | null;
  /** After the optimizer: takes the graphs' gradients back from the parameters (the next replay writes them again) and frees eager ones. */
  release(): void;
}

/** The step graphs a run asks for (null: off, or not on the GPU, which `on` says). */
export function stepGraphsFor(mode: 'off' | 'auto' | 'on', parts: TrainingParts, warn: (message: string) => void): StepGraphs | null {
  if (mode === 'off') return null;
  const backend = parts.model.net.parameters()[0]?.backend;
  if (backend?.name === 'cuda') return new StepGraphs(backend as CudaBackend, mode, warn);
  if (mode === 'on') warn('training.cudaGraphs: on needs the CUDA backend; training without graphs');
  return null;
}

export class StepGraphs {
  private readonly graphs = new Map<string, CapturedStep>();
  private readonly warmedUp = new Set<string>();
  /** The gradients of a step of several micro-batches, which each replay adds into (made at the first such capture). */
  private sums: T.Tensor[] | null = null;
  private off = false;
  private toldIneligible = false;

  constructor(
    private readonly gpu: CudaBackend,
    /** 'on' also says, once, when a step runs eagerly because it cannot be replayed. */
    private readonly mode: 'auto' | 'on',
    private readonly warn: (message: string) => void,
  ) {}

  /** One optimizer step of `microBatches` micro-batches, drawn by the caller in order. */
  beginStep(parts: TrainingParts, generator: T.Generator, batchSize: number, microBatches: number): GraphedStep {
    const params = parts.model.net.parameters();
    let eager = false;
    // whether the parameters hold the graphs' gradients (else their own, or none)
    let attached = false;
    let repairFlag: T.Tensor | null = null;
    return {
      replay: (micro) => {
        if (eager) return null;
        const replayed = this.replay(parts, generator, batchSize, microBatches, micro);
        if (replayed) {
          attached = true;
          repairFlag = replayed.repairFlag;
          return replayed.losses;
        }
        eager = true;
        // the eager micro-batches go on from copies: backward replaces the gradients it adds to, and frees them
        if (attached) for (const p of params) if (p.grad) p.grad = T.keep(T.clone(p.grad));
        attached = false;
        return null;
      },
      get repairFlag() {
        return repairFlag;
      },
      release: () => {
        for (const p of params) {
          if (!attached) p.grad?.dispose();
          p.grad = null;
        }
      },
    };
  }

  /** Runs `micro` from a graph (its losses, and a one-micro-batch step's repair flag), or returns null. */
  private replay(parts: TrainingParts, generator: T.Generator, batchSize: number, microBatches: number, micro: MicroBatch): { losses: T.Tensor; repairFlag: T.Tensor | null } | null {
    if (this.off) return null;
    const composition = this.composition(parts, generator, micro);
    if (typeof composition !== 'string') {
      if (this.mode === 'on' && !this.toldIneligible) this.warn(`training.cudaGraphs: a step runs eagerly (${composition.why}); said once`);
      this.toldIneligible = true;
      return null;
    }
    const params = parts.model.net.parameters();
    // One of several micro-batches: which parameters the step's earlier micro-batches gave a gradient (in
    // this.sums); the graph adds to those and writes the others.
    const prior = microBatches > 1 ? params.map((p) => p.grad !== null) : null;
    if (!prior && params.some((p) => p.grad !== null)) return null;
    const key = prior ? `${composition}|${prior.map(Number).join('')}` : composition;
    if (!this.warmedUp.has(key)) {
      this.warmedUp.add(key);
      return null;
    }
    return T.tidy(() => {
      const images = micro.images();
      const base = generator.state().offset;
      let step = this.graphs.get(key) ?? null;
      if (!step) {
        if (this.graphs.size >= MAX_GRAPHS) return null;
        step = this.capture(parts, generator, micro, images, base, prior);
        if (!step) return null;
        this.graphs.set(key, step);
      }
      const sums = this.sums;
      const before = prior && sums && step.unchecked > 0 ? prior.map((had, i) => (had ? sums[i].toFloat32Array() : null)) : null;
      this.run(step, micro, images, batchSize, base);
      if (step.unchecked > 0) {
        step.unchecked--;
        if (!this.check(step, parts, generator, micro, images, batchSize, base, before)) return null;
      }
      // the real stream moves past what the step drew, as the eager step moves it
      generator.take(step.blocks * 4);
      const { grads } = step;
      params.forEach((p, i) => (p.grad = grads[i]));
      // a copy: another micro-batch of the step may replay this graph before the losses are read
      return { losses: T.clone(step.losses), repairFlag: step.repairFlag };
    });
  }

  /** Destroys every graph and frees its tensors. */
  dispose(): void {
    this.disposeGraphs();
    for (const t of this.sums ?? []) t.dispose();
    this.sums = null;
  }

  private disposeGraphs(): void {
    for (const step of this.graphs.values()) disposeStep(step);
    this.graphs.clear();
  }

  /** The batch composition of a step that can be replayed, or why it cannot. */
  private composition(parts: TrainingParts, generator: T.Generator, micro: MicroBatch): string | { why: string } {
    const { model } = parts;
    if (micro.classLabels) return { why: 'class labels' };
    if (generator.constructor !== T.Generator) return { why: "a data-parallel rank's generator" };
    const p = model.net.parameters()[0];
    if (!p || p.backend !== this.gpu) return { why: 'the model is not on the GPU' };
    const n = micro.sigma.length;
    if (micro.weight.length !== n) return { why: 'loss weights and noise levels differ in number' };
    // as the network routes: by the float32 noise levels (noiseLevels), in float64
    const stages = model.partition.route(Float64Array.from(Float32Array.from(micro.sigma)));
    let next = 0;
    const active = stages.filter((s) => s.length > 0);
    const sorted = active.every((s) => s.every((i) => i === next++));
    if (active.length > 1 && !sorted) return { why: 'a mixed-stage batch not sorted by stage' };
    // the decoders the stages run on are part of it: after training.sharedDecoderImages' switch the same
    // counts run other decoders, whose shapes need an eager warm-up step before a capture
    const decoders = model.unet instanceof MultistageUNet ? `:${model.unet.decoderOf.join(',')}` : '';
    return `${n}:${stages.map((s) => s.length).join(',')}${decoders}${micro.augmentLabels ? ':augmented' : ''}`;
  }

  /**
   * Captures the step; null (graphs off, one warning) when it cannot be. `prior`: one of several
   * micro-batches, and the parameters the step's earlier ones gave a gradient.
   */
  private capture(parts: TrainingParts, generator: T.Generator, micro: MicroBatch, x: T.Tensor, base: number, prior: boolean[] | null): CapturedStep | null {
    const { model } = parts;
    const params = model.net.parameters();
    const n = micro.sigma.length;
    const images = T.keep(T.empty(x.shape, 'float32', this.gpu));
    const augmentLabels = micro.augmentLabels ? T.keep(T.empty([n, parts.model.augmentDim], 'float32', this.gpu)) : null;
    const weights = T.keep(T.empty([n], 'float32', this.gpu));
    const sums = prior ? (this.sums ??= params.map((q) => T.keep(T.empty(q.shape, 'float32', this.gpu)))) : null;
    const perSample: CapturedStep['perSample'] = [];
    // a copy of the stream: the real one moves only when the step is run from the graph
    const gen = T.Generator.fromState({ seed: generator.seed, offset: base });
    // the captured backward makes the gradients of this micro-batch alone
    const held = params.map((q) => q.grad);
    for (const q of params) q.grad = null;
    let outputs: { losses: T.Tensor; repairFlag: T.Tensor | null; reached: boolean[] } | null = null;
    const made = (): void => {
      for (const t of [images, augmentLabels, weights, ...perSample.map((s) => s.tensor), outputs?.losses, outputs?.repairFlag]) t?.dispose();
      for (const q of params) q.grad?.dispose();
    };
    try {
      const graph = this.gpu.captureGraph(
        () =>
          withPerSampleInputs(
            micro.sigma,
            (shape, _backend, recipe) => {
              if (!recipe) throw new GraphCaptureError('per-sample values not made from the step\'s sigma (models/noise-levels.ts perSampleValues): a replay would reuse the captured ones');
              // written before each replay: a graph input (not a pool block the work before it may use)
              const n = numel(shape);
              const tensor = T.keep(new Tensor(new Storage(this.gpu, this.gpu.allocGraphInput('float32', n), 'float32', n), shape));
              perSample.push({ tensor, recipe });
              return tensor;
            },
            () => {
              const losses = T.keep(queueMicroBatch(model, gen, { ...micro, augmentLabels: augmentLabels ? () => augmentLabels : undefined }, images, weights));
              const reached = params.map((q) => q.grad !== null);
              if (!sums) {
                outputs = { losses, repairFlag: T.keep(repairGradients(params.flatMap((q) => (q.grad ? [q.grad] : [])))), reached };
                return;
              }
              // into the step's gradients, as eager backward adds a pass's gradient to what it finds
              params.forEach((q, i) => {
                if (!q.grad) return;
                const grad = q.grad;
                T.tidy(() => copyInto(sums[i], prior![i] ? T.add(sums[i], grad) : grad));
                grad.dispose();
                q.grad = null;
              });
              outputs = { losses, repairFlag: null, reached };
            },
          ),
        { key: gen.take(0).key, counter: base },
      );
      const { losses, repairFlag, reached } = outputs!;
      const grads = params.map((q, i) => (sums ? (reached[i] || prior![i] ? sums[i] : null) : q.grad));
      for (const q of params) q.grad = null;
      return { graph, images, augmentLabels, weights, perSample, losses, repairFlag, grads, blocks: gen.state().offset - base, unchecked: CHECKED_REPLAYS };
    } catch (e) {
      made();
      if (!(e instanceof GraphCaptureError)) throw e;
      this.turnOff(`the step could not be captured: ${e.message}`);
      return null;
    } finally {
      params.forEach((q, i) => (q.grad = held[i]));
    }
  }

  /** Writes the step's inputs and queues the graph. */
  private run(step: CapturedStep, micro: MicroBatch, x: T.Tensor, batchSize: number, base: number): void {
    copyInto(step.images, x);
    if (step.augmentLabels) copyInto(step.augmentLabels, micro.augmentLabels!());
    this.gpu.upload(step.weights.buffer, lossWeights(micro, batchSize));
    for (const { tensor, recipe } of step.perSample) this.gpu.upload(tensor.buffer, recipe(micro.sigma));
    step.graph.replay(base);
  }

  /**
   * Compares a replay with the same micro-batch run eagerly (its gradients added to `before`, the step's
   * gradients before the replay, and discarded); false: graphs off, and the step's gradients as before.
   * The micro-batch runs eagerly twice: where cuDNN's kernels sum in a varying order (atomics; bfloat16
   * shows it most), two eager runs differ too, and the replay may differ from one by about as much, not more.
   */
  private check(step: CapturedStep, parts: TrainingParts, generator: T.Generator, micro: MicroBatch, x: T.Tensor, batchSize: number, base: number, before: (Float32Array | null)[] | null): boolean {
    const params = parts.model.net.parameters();
    const replayed = [step.losses.toFloat32Array(), step.repairFlag?.toFloat32Array() ?? null, ...step.grads.map((g) => g?.toFloat32Array() ?? null)];
    const held = params.map((q) => q.grad);
    for (const q of params) q.grad = null;
    const eager = (): (Float32Array | null)[] => {
      const values = T.tidy(() => {
        const losses = queueMicroBatch(parts.model, T.Generator.fromState({ seed: generator.seed, offset: base }), micro, x, T.fromArray(lossWeights(micro, batchSize), [micro.weight.length]));
        const flag = step.repairFlag ? repairGradients(params.flatMap((q) => (q.grad ? [q.grad] : []))).toFloat32Array() : null;
        return [losses.toFloat32Array(), flag, ...params.map((q, i) => accumulated(before?.[i] ?? null, q.grad?.toFloat32Array() ?? null))];
      });
      for (const q of params) {
        q.grad?.dispose();
        q.grad = null;
      }
      return values;
    };
    const [first, second] = [eager(), eager()];
    params.forEach((q, i) => (q.grad = held[i]));
    const one = (r: Float32Array | null, e: Float32Array | null): number => (r && e ? relativeL2(r, e) : r === e ? 0 : Infinity);
    const distance = (a: (Float32Array | null)[], b: (Float32Array | null)[]): number => Math.max(...a.map((r, i) => one(r, b[i])));
    const worst = distance(replayed, first);
    const noise = distance(second, first);
    if (worst <= Math.max(CHECK_TOLERANCE, REPLAY_NOISE_FACTOR * noise)) return true;
    before?.forEach((values, i) => values && this.gpu.upload(this.sums![i].buffer, values));
    this.turnOff(`a checked replay differs from the eager step (relative L2 ${worst.toExponential(2)}; two eager runs differ by ${noise.toExponential(2)})`);
    return false;
  }

  /** Graphs off for the run; the step's gradients stay (the parameters may hold them) until dispose(). */
  private turnOff(why: string): void {
    this.off = true;
    this.disposeGraphs();
    this.warn(`training.cudaGraphs: ${why}; training on without graphs`);
  }
}

/** A gradient after a pass that made `pass` on top of `before` (null: none), as float32 addition makes it. */
function accumulated(before: Float32Array | null, pass: Float32Array | null): Float32Array | null {
  return before && pass ? Float32Array.from(before, (v, i) => v + pass[i]) : (before ?? pass);
}

/** Copies a step's host-made tensor into the graph's input for it. */
function copyInto(input: T.Tensor, x: T.Tensor): void {
  if (x.size !== input.size || x.dtype !== 'float32' || x.backend !== input.backend) throw new Error(`internal: ${x.size} ${x.dtype} values on ${x.backend.name} for a graph input of ${input.size} float32 on ${input.backend.name}`);
  input.backend.cast(x.buffer, 'float32', input.buffer, 'float32', x.size);
}

function disposeStep(step: CapturedStep): void {
  // a graph with a repair flag is a one-micro-batch step's, its gradients its own (the others' are StepGraphs.sums)
  const own = step.repairFlag ? step.grads : [];
  for (const t of [step.images, step.augmentLabels, step.weights, step.losses, step.repairFlag, ...step.perSample.map((s) => s.tensor), ...own]) t?.dispose();
  step.graph.dispose();
}
