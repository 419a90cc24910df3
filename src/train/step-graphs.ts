/**
 * CUDA graphs of the training step (training.cudaGraphs): a step's forward, backward and gradient repair
 * captured once per batch composition and replayed after, so that the host queues one graph instead of a
 * thousand launches (the quickstart model is bound by exactly that).
 *
 * A replay runs the captured launches with the captured addresses, so everything a step takes from the host
 * is written into the graph's inputs (buffers outside the graph's memory pool, whose blocks the captured
 * work reuses: backend/cuda/graph.ts) before each replay: the images and their augmentation labels (copied
 * into fixed buffers), the loss weights, the per-sample tensors made from sigma (the preconditioning coefficients, noise labels, loss
 * weights of the formulation: models/noise-levels.ts hands each to the capture with its recipe from sigma),
 * and the Philox counter the step's noise and dropout start at. The structure of the step must not depend
 * on the data either: a batch composition is its size and its samples per stage, and a mixed-stage batch
 * must be sorted by stage (routing by slices; a gather would replay the captured row order).
 *
 * Guards: a composition runs eagerly once (cuDNN finds its algorithms, kernels compile) before it is
 * captured; whatever a capture cannot replay fails it (graph.ts); the first two replays of each graph are
 * checked against eager runs of the same steps. A failure of either turns graphs off for the run with one warning,
 * and the step runs eagerly from the same random-stream position, so nothing differs from a run without
 * graphs. Steps that are not eligible (several micro-batches, data-parallel ranks, class labels,
 * unsorted mixed batches) run eagerly.
 */
import * as T from '../tensor/index.js';
import { Storage, Tensor } from '../tensor/tensor.js';
import { numel } from '../base/shape.js';
import { type CudaBackend, type CudaGraph, GraphCaptureError } from '../backend/cuda/index.js';
import { withPerSampleInputs } from '../models/noise-levels.js';
import { repairGradients } from './gradients.js';
import { relativeL2 } from '../util/relative-l2.js';
import { type MicroBatch, type TrainingParts, lossWeights, queueMicroBatch } from './train-step.js';

/** Graphs kept at once (one per batch composition; balanced stage sampling has one). */
const MAX_GRAPHS = 4;
/**
 * Replays of each graph checked against eager steps: the capture's own step, and the next (a value uploaded
 * while capturing replays as the capture's step had it, which only another step's data shows).
 */
const CHECKED_REPLAYS = 2;
/** Relative L2 distance allowed between the first replay and the eager step (atomics in cuDNN's kernels). */
const CHECK_TOLERANCE = 1e-5;

interface CapturedStep {
  graph: CudaGraph;
  images: T.Tensor;
  /** EDM's augmentation labels of the step's images (null: not augmented). */
  augmentLabels: T.Tensor | null;
  weights: T.Tensor;
  perSample: { tensor: T.Tensor; recipe: (sigma: Float64Array) => Float32Array }[];
  losses: T.Tensor;
  repairFlag: T.Tensor;
  /** Each parameter's gradient as the graph writes it (null: the parameter gets none). */
  grads: (T.Tensor | null)[];
  /** Philox counter blocks a step draws. */
  blocks: number;
  /** Replays still to check against eager steps. */
  unchecked: number;
}

/** A step the graph ran: its per-sample losses and repair flag, and the parameters holding its gradients until release(). */
export interface ReplayedStep {
  losses: T.Tensor;
  repairFlag: T.Tensor;
  /** Takes the graph's gradients back from the parameters (the optimizer has used them; the next replay writes them again). */
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
  private off = false;
  private toldIneligible = false;

  constructor(
    private readonly gpu: CudaBackend,
    /** 'on' also says, once, when a step runs eagerly because it cannot be replayed. */
    private readonly mode: 'auto' | 'on',
    private readonly warn: (message: string) => void,
  ) {}

  /**
   * Runs the step of `micro` (the step's only micro-batch, already drawn) from a graph, or returns null for
   * the caller to run it eagerly (the generator then stands where it stood).
   */
  replay(parts: TrainingParts, generator: T.Generator, batchSize: number, micro: MicroBatch): ReplayedStep | null {
    if (this.off) return null;
    const key = this.composition(parts, generator, micro);
    if (typeof key !== 'string') {
      if (this.mode === 'on' && !this.toldIneligible) this.warn(`training.cudaGraphs: a step runs eagerly (${key.why}); said once`);
      this.toldIneligible = true;
      return null;
    }
    if (!this.warmedUp.has(key)) {
      this.warmedUp.add(key);
      return null;
    }
    const params = parts.model.net.parameters();
    if (params.some((p) => p.grad !== null)) return null;
    return T.tidy(() => {
      const images = micro.images();
      const base = generator.state().offset;
      let step = this.graphs.get(key) ?? null;
      if (!step) {
        if (this.graphs.size >= MAX_GRAPHS) return null;
        step = this.capture(parts, generator, micro, images, base);
        if (!step) return null;
        this.graphs.set(key, step);
      }
      this.run(step, micro, images, batchSize, base);
      if (step.unchecked > 0) {
        step.unchecked--;
        if (!this.check(step, parts, generator, micro, images, batchSize, base)) return null;
      }
      // the real stream moves past what the step drew, as the eager step moves it
      generator.take(step.blocks * 4);
      const attached = step;
      params.forEach((p, i) => (p.grad = attached.grads[i]));
      return { losses: step.losses, repairFlag: step.repairFlag, release: () => params.forEach((p) => (p.grad = null)) };
    });
  }

  /** Destroys every graph and frees its tensors. */
  dispose(): void {
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
    return `${n}:${stages.map((s) => s.length).join(',')}${micro.augmentLabels ? ':augmented' : ''}`;
  }

  /** Captures the step; null (graphs off, one warning) when it cannot be. */
  private capture(parts: TrainingParts, generator: T.Generator, micro: MicroBatch, x: T.Tensor, base: number): CapturedStep | null {
    const { model } = parts;
    const params = model.net.parameters();
    const n = micro.sigma.length;
    const images = T.keep(T.empty(x.shape, 'float32', this.gpu));
    const augmentLabels = micro.augmentLabels ? T.keep(T.empty([n, parts.model.augmentDim], 'float32', this.gpu)) : null;
    const weights = T.keep(T.empty([n], 'float32', this.gpu));
    const perSample: CapturedStep['perSample'] = [];
    // a copy of the stream: the real one moves only when the step is run from the graph
    const gen = T.Generator.fromState({ seed: generator.seed, offset: base });
    let outputs: { losses: T.Tensor; repairFlag: T.Tensor } | null = null;
    const made = (): void => {
      for (const t of [images, augmentLabels, weights, ...perSample.map((s) => s.tensor), outputs?.losses, outputs?.repairFlag]) t?.dispose();
      for (const q of params) {
        q.grad?.dispose();
        q.grad = null;
      }
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
              const repairFlag = T.keep(repairGradients(params.flatMap((q) => (q.grad ? [q.grad] : []))));
              outputs = { losses, repairFlag };
            },
          ),
        { key: gen.take(0).key, counter: base },
      );
      const grads = params.map((q) => q.grad);
      for (const q of params) q.grad = null;
      const { losses, repairFlag } = outputs!;
      return { graph, images, augmentLabels, weights, perSample, losses, repairFlag, grads, blocks: gen.state().offset - base, unchecked: CHECKED_REPLAYS };
    } catch (e) {
      made();
      if (!(e instanceof GraphCaptureError)) throw e;
      this.turnOff(`the step could not be captured: ${e.message}`);
      return null;
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

  /** Compares a replay with the same step run eagerly (its gradients discarded); false: graphs off. */
  private check(step: CapturedStep, parts: TrainingParts, generator: T.Generator, micro: MicroBatch, x: T.Tensor, batchSize: number, base: number): boolean {
    const params = parts.model.net.parameters();
    const replayed = [step.losses.toFloat32Array(), step.repairFlag.toFloat32Array(), ...step.grads.flatMap((g) => (g ? [g.toFloat32Array()] : []))];
    const eager = T.tidy(() => {
      const losses = queueMicroBatch(parts.model, T.Generator.fromState({ seed: generator.seed, offset: base }), micro, x, T.fromArray(lossWeights(micro, batchSize), [micro.weight.length]));
      const flag = repairGradients(params.flatMap((q) => (q.grad ? [q.grad] : [])));
      return [losses.toFloat32Array(), flag.toFloat32Array(), ...params.flatMap((q) => (q.grad ? [q.grad.toFloat32Array()] : []))];
    });
    for (const q of params) {
      q.grad?.dispose();
      q.grad = null;
    }
    const worst = replayed.length === eager.length ? Math.max(...replayed.map((r, i) => relativeL2(r, eager[i]))) : Infinity;
    if (worst <= CHECK_TOLERANCE) return true;
    this.turnOff(`a checked replay differs from the eager step (relative L2 ${worst.toExponential(2)})`);
    return false;
  }

  private turnOff(why: string): void {
    this.off = true;
    this.dispose();
    this.warn(`training.cudaGraphs: ${why}; training on without graphs`);
  }
}

/** Copies a step's host-made tensor into the graph's input for it. */
function copyInto(input: T.Tensor, x: T.Tensor): void {
  if (x.size !== input.size || x.dtype !== 'float32' || x.backend !== input.backend) throw new Error(`internal: ${x.size} ${x.dtype} values on ${x.backend.name} for a graph input of ${input.size} float32 on ${input.backend.name}`);
  input.backend.cast(x.buffer, 'float32', input.buffer, 'float32', x.size);
}

function disposeStep(step: CapturedStep): void {
  for (const t of [step.images, step.augmentLabels, step.weights, step.losses, step.repairFlag, ...step.perSample.map((s) => s.tensor), ...step.grads]) t?.dispose();
  step.graph.dispose();
}
