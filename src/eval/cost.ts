/**
 * The cost of one image, stage by stage: parameters of the shared part (mapping network and encoder) and of
 * each stage's decoder (or each stage's network), multiply-accumulates of one network evaluation in each
 * stage, measured milliseconds per evaluation in each stage on the current backend, and how many evaluations
 * the sampler spends in each stage. A multistage network runs only one decoder per evaluation, so its cost
 * per image is the sum over stages of evaluations x cost of that stage's path.
 *
 * Counting convention (the paper's "GFLOPs" column, which counts multiply-adds as most tools do: its 21.2
 * for DDPM++ on CIFAR-10 is 21.2 G multiply-adds): one multiply-add (MAC) per weight per output pixel of
 * every convolution, per weight per row of every linear layer, and for self-attention the two products
 * Q K^T and softmax(.) V, (HW)^2 C each. Normalisation, activations, resampling filters, bias adds and the
 * softmax are not counted. MACs are counted by watching the layers of one real forward pass of one image,
 * so they follow the network as it runs (per-stage routing included).
 */
import * as T from '../tensor/index.js';
import type { Tensor } from '../tensor/index.js';
import type { Module } from '../nn/module.js';
import { Conv2d } from '../nn/conv2d.js';
import { Linear } from '../nn/linear.js';
import { UNetBlock } from '../nn/unet-block.js';
import { StagePartition } from '../stages/stage-partition.js';
import type { Denoiser } from '../diffusion/denoiser.js';
import { sample } from '../diffusion/sample.js';
import type { SamplerName, SamplerSpec } from '../diffusion/samplers/index.js';
import { samplerSpec, defaultSteps } from '../diffusion/samplers/index.js';
import type { DiffusionModel } from '../train/diffusion-model.js';

export interface CostOptions {
  /** The module whose layers run (EDMPrecond, or the bare U-Net of a VP model): counted and timed. */
  net: Module;
  /** D(x; sigma) through `net`. */
  denoiser: Denoiser;
  partition: StagePartition;
  /** [C, H, W] of one image. */
  shape: readonly number[];
  /** Default 'heun'. */
  sampler?: SamplerName | SamplerSpec;
  /** Default: the sampler's own. */
  steps?: number;
  /** Images per timed evaluation (default 64); 0 skips the timing. */
  batch?: number;
  /** Timed evaluations per stage after one warm-up (default 5). */
  repeats?: number;
}

export interface StageCost {
  stage: number;
  /** The sigma range (lo, hi] of the stage. */
  sigmaRange: [number, number];
  /** Parameters one evaluation in this stage uses: the shared part plus this stage's own. */
  pathParameters: number;
  /** This stage's own parameters (its decoder, or its network). */
  ownParameters: number;
  /** Multiply-accumulates of one evaluation of one image. */
  macs: number;
  /** Measured milliseconds of one evaluation of a batch of `batch` images (null: not timed). */
  msPerEvaluation: number | null;
  /** Network evaluations the sampler spends in this stage for one image. */
  evaluations: number;
}

export interface CostTable {
  sampler: string;
  steps: number;
  /** Parameters every evaluation uses (a multistage network's mapping network and encoder; a unified network's all). */
  sharedParameters: number;
  totalParameters: number;
  stages: StageCost[];
  /** Images per timed evaluation (0: not timed). */
  batch: number;
  device: string;
  perImage: { evaluations: number; macs: number; ms: number | null };
}

/** The stage a parameter belongs to: `decs.K.` (multistage decoders) or `nets.K.` (separate networks). */
const STAGE_PARAMETER = /(?:^|\.)(?:decs|nets)\.(\d+)\./;

/** A sigma inside each stage (where the network routes an evaluation to that stage). */
function sigmaInside(partition: StagePartition, stage: number): number {
  const [lo, hi] = partition.interval(stage);
  if (lo === 0) return hi === Infinity ? 1 : hi / 2;
  return hi === Infinity ? lo * 2 : Math.sqrt(lo * hi);
}

function convMacs(conv: Conv2d, x: Tensor, y: Tensor): number {
  if (!conv.weight) return 0;
  const perPixel = conv.outChannels * conv.inChannels * conv.kernel * conv.kernel;
  const [n, , h, w] = x.shape;
  if (conv.fusedResample && conv.down) {
    // The convolution runs before the downsampling, at the input's size padded for the filter too.
    const grow = 2 * ((conv.kernel >> 1) + ((conv.resampleTaps.length - 1) >> 1)) - conv.kernel + 1;
    return n * perPixel * (h + grow) * (w + grow);
  }
  return n * perPixel * y.shape[2] * y.shape[3];
}

/** Multiply-accumulates of the layers of `net` while `run` runs. */
export function countMacs(net: Module, run: () => void): number {
  let macs = 0;
  const watched: Module[] = [];
  const watch = <M extends Module>(m: M, count: (x: Tensor, y: Tensor) => number): void => {
    const layer = m as unknown as { forward: (x: Tensor, ...rest: unknown[]) => Tensor };
    const forward = layer.forward;
    layer.forward = (x: Tensor, ...rest: unknown[]) => {
      const y = forward.call(m, x, ...rest);
      macs += count(x, y);
      return y;
    };
    watched.push(m);
  };
  for (const [, m] of net.namedModules()) {
    if (m instanceof Conv2d) watch(m, (x, y) => convMacs(m, x, y));
    else if (m instanceof Linear) watch(m, (x) => (x.size / m.inFeatures) * m.inFeatures * m.outFeatures);
    else if (m instanceof UNetBlock && m.numHeads > 0) {
      // Q K^T and softmax V over the block's output pixels; its qkv and proj convolutions count as convolutions.
      watch(m, (_, y) => {
        const [n, c, h, w] = y.shape;
        return 2 * n * (h * w) ** 2 * c;
      });
    }
  }
  try {
    run();
  } finally {
    for (const m of watched) delete (m as unknown as { forward?: unknown }).forward;
  }
  return macs;
}

/** Parameters by stage: what every evaluation uses, and each stage's own (decoder or network). */
export function parametersByStage(net: Module, numStages: number): { shared: number; own: number[]; total: number } {
  const own = new Array<number>(numStages).fill(0);
  let total = 0;
  for (const [name, p] of net.namedParameters()) {
    total += p.size;
    const stage = STAGE_PARAMETER.exec(name);
    if (stage) {
      const k = Number(stage[1]);
      if (k >= numStages) throw new Error(`parameter ${name} belongs to stage ${k} of a ${numStages}-stage partition`);
      own[k] += p.size;
    }
  }
  return { shared: total - own.reduce((a, b) => a + b, 0), own, total };
}

/** Network evaluations per stage of one sampler run (the schedule alone decides them). */
export function evaluationsPerStage(partition: StagePartition, sampler: SamplerName | SamplerSpec, steps: number): number[] {
  const result = sample({ model: (x) => T.mulScalar(x, 0), shape: [1, 1, 1], batch: 1, seed: 0, sampler, steps, partition });
  result.images.dispose();
  return result.evaluationsPerStage;
}

function timeEvaluation(options: CostOptions, sigma: number, batch: number, repeats: number): number {
  const backend = T.getBackend();
  const x = T.noGrad(() => T.mulScalar(new T.Generator(0).normal([batch, ...options.shape]), sigma));
  const once = () => T.noGrad(() => T.tidy(() => void options.denoiser(x, T.full([batch], sigma, 'float32'))));
  try {
    once();
    backend.synchronize();
    const started = performance.now();
    for (let i = 0; i < repeats; i++) once();
    backend.synchronize();
    return (performance.now() - started) / repeats;
  } finally {
    x.dispose();
  }
}

export function costPerStage(options: CostOptions): CostTable {
  const spec = samplerSpec(options.sampler ?? 'heun');
  const steps = options.steps ?? defaultSteps(spec);
  const batch = options.batch ?? 64;
  const repeats = options.repeats ?? 5;
  if (!Number.isInteger(batch) || batch < 0) throw new Error(`cost: batch must be a whole number >= 0, got ${batch}`);
  if (!Number.isInteger(repeats) || repeats < 1) throw new Error(`cost: repeats must be a whole number >= 1, got ${repeats}`);
  const { partition } = options;
  const params = parametersByStage(options.net, partition.numStages);
  const evaluations = evaluationsPerStage(partition, spec, steps);
  const stages = evaluations.map((evaluationCount, stage): StageCost => {
    const sigma = sigmaInside(partition, stage);
    const one = T.noGrad(() => T.mulScalar(new T.Generator(0).normal([1, ...options.shape]), sigma));
    const macs = countMacs(options.net, () => T.noGrad(() => T.tidy(() => void options.denoiser(one, T.full([1], sigma, 'float32')))));
    one.dispose();
    return {
      stage,
      sigmaRange: partition.interval(stage),
      pathParameters: params.shared + params.own[stage],
      ownParameters: params.own[stage],
      macs,
      msPerEvaluation: batch > 0 ? timeEvaluation(options, sigma, batch, repeats) : null,
      evaluations: evaluationCount,
    };
  });
  const timed = batch > 0;
  return {
    sampler: spec.name,
    steps,
    sharedParameters: params.shared,
    totalParameters: params.total,
    stages,
    batch,
    device: T.getBackend().name,
    perImage: {
      evaluations: evaluations.reduce((a, b) => a + b, 0),
      macs: stages.reduce((a, s) => a + s.evaluations * s.macs, 0),
      ms: timed ? stages.reduce((a, s) => a + (s.evaluations * s.msPerEvaluation!) / batch, 0) : null,
    },
  };
}

/** The cost table of a trained (or freshly built) model, e.g. one from loadModelFromCheckpoint. */
export function modelCost(model: DiffusionModel, options: Omit<CostOptions, 'net' | 'denoiser' | 'partition' | 'shape'> = {}): CostTable {
  return costPerStage({ net: model.net, denoiser: model.denoiser(), partition: model.partition, shape: model.imageShape, ...options });
}

const millions = (n: number): string => `${(n / 1e6).toFixed(2)}M`;
const giga = (n: number): string => `${(n / 1e9).toFixed(2)}G`;

/** The table as Markdown, with a line for the whole image. */
export function formatCostTable(table: CostTable, title = 'cost per stage'): string {
  const timed = table.batch > 0;
  const lines = [
    `${title}: ${table.sampler}, ${table.steps} steps, ${table.perImage.evaluations} evaluations per image; parameters ${millions(table.totalParameters)} stored, ${millions(table.sharedParameters)} shared` +
      (timed ? `; ms timed on ${table.device} with batches of ${table.batch}` : ''),
    '',
    `| stage | sigma | parameters (path / own) | GMACs per evaluation | ${timed ? `ms per evaluation (batch ${table.batch}) | ` : ''}evaluations |`,
    `|---|---|---|---|${timed ? '---|' : ''}---|`,
    ...table.stages.map(
      (s) =>
        `| ${s.stage} | (${s.sigmaRange[0].toPrecision(4)}, ${s.sigmaRange[1] === Infinity ? 'inf' : s.sigmaRange[1].toPrecision(4)}] | ${millions(s.pathParameters)} / ${table.stages.length > 1 ? millions(s.ownParameters) : '-'} | ${giga(s.macs)} | ` +
        `${timed ? `${s.msPerEvaluation!.toFixed(2)} | ` : ''}${s.evaluations} |`,
    ),
    `| one image | | | ${giga(table.perImage.macs)} | ${timed ? `${table.perImage.ms!.toFixed(3)} ms | ` : ''}${table.perImage.evaluations} |`,
  ];
  return lines.join('\n');
}
