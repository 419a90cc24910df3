/**
 * The rank logic of data-parallel training: what one rank of a group of `size` takes from each batch and
 * how the ranks agree. Every rank holds the same weights, draws the same global batch plan (data order,
 * flips, stage choices, noise levels: host draws, identical everywhere) and trains on its share of every
 * micro-batch, samples [rank * B/size, (rank + 1) * B/size); the per-sample losses are divided by the
 * global batch size, so the sum of the ranks' gradients (the all-reduce) is the gradient of the whole
 * batch, as one process would compute it. With the generator in `slice` mode the loss noise and dropout
 * masks are the rank's part of the one-process draw too (rank-generator.ts), so N ranks with batch B
 * give the weights of one process with batch B up to the rounding of the sums' order. The gradient sums
 * run in buckets while the step's last backward pass goes on (distributed/gradient-buckets.ts).
 */
import type { BackwardHooks, GeneratorState, Tensor } from '../tensor/index.js';
import { Dropout } from '../nn/dropout.js';
import { type BatchShare, type Communicator, batchShare } from '../distributed/communicator.js';
import { GradientBuckets } from '../distributed/gradient-buckets.js';
import { type RankDrawMode, RankGenerator } from '../distributed/rank-generator.js';
import type { TrainConfig } from './config.js';
import type { DiffusionModel } from './diffusion-model.js';
import type { NoiseBatch, StageSampler, UniformSource } from './stage-sampling.js';

export class DataParallel {
  readonly rank: number;
  readonly size: number;
  readonly share: BatchShare;
  readonly mode: RankDrawMode;
  private readonly micro: number;
  /** This rank's per-sample losses of the step in progress, at their place in the global batch (zero elsewhere). */
  private readonly stepLosses: Float64Array;
  private sampleCursor = 0;
  private gatheredLosses = new Float64Array(0);
  /** Noise levels of the step in progress, every rank's samples. */
  private readonly stepSigmas: Float64Array;
  private stopVote = false;
  private readonly buckets: GradientBuckets;

  /** The training generator of this rank (see rank-generator.ts), continuing from the run's state. */
  readonly generator: RankGenerator;

  constructor(
    readonly communicator: Communicator,
    config: TrainConfig,
    private readonly model: DiffusionModel,
    generatorState: GeneratorState,
  ) {
    const { rank, size } = communicator;
    const t = config.training;
    this.rank = rank;
    this.size = size;
    this.micro = t.microBatch ?? t.batchSize;
    this.share = batchShare(this.micro, rank, size, t.microBatch === null ? 'training.batchSize' : 'training.microBatch');
    const stages = model.partition.numStages;
    if (t.stageSampling === 'rank' && size < stages) throw new Error(`stage sampling 'rank' trains stage r mod ${stages} on rank r: it needs at least ${stages} ranks, the group has ${size}`);
    const routed = config.model.kind !== 'unified' && stages > 1;
    const mixed = t.stageSampling === 'per-sample' || t.stageSampling === 'balanced' || t.stageSampling === 'rank';
    const dropout = model.net.namedModules().some(([, m]) => m instanceof Dropout && m.p > 0);
    // Ranks draw dropout masks of different sizes when their decoders see different numbers of samples.
    this.mode = routed && mixed && dropout ? 'per-rank' : 'slice';
    this.stepLosses = new Float64Array(t.batchSize);
    this.stepSigmas = new Float64Array(t.batchSize);
    this.generator = new RankGenerator(generatorState, rank, size, this.mode);
    this.buckets = new GradientBuckets(communicator, model.net.parameters(), t.gradientBucketMiB * 2 ** 20);
  }

  /** The hooks of the step's last backward pass, where the gradient sums start (train-step.ts). */
  readonly lastBackward: BackwardHooks = {
    begins: (leaves: readonly Tensor[]) => this.buckets.lastPassBegins(leaves),
    gradientFinal: (leaf: Tensor) => this.buckets.gradientFinal(leaf),
  };

  /** Positions of a loader batch this rank loads: its share of every micro-batch. */
  batchPositions(batchSize: number): Int32Array {
    const out: number[] = [];
    for (let m = 0; m < batchSize; m += this.micro) for (let j = 0; j < this.share.count; j++) out.push(m + this.share.start + j);
    return Int32Array.from(out);
  }

  /**
   * This rank's noise levels and weights for micro-batch `m` of a step: its slice of the global draw,
   * which every rank makes whole (the sigmas of all ranks' samples are kept for the logs).
   */
  noise(m: number, sampler: StageSampler, uniforms: UniformSource): NoiseBatch {
    const all = sampler.kind === 'rank' ? this.rankRuleNoise(sampler, uniforms) : sampler.draw(this.micro, uniforms);
    this.stepSigmas.set(all.sigma, m * this.micro);
    const { start, count } = this.share;
    return { sigma: all.sigma.slice(start, start + count), weight: all.weight.slice(start, start + count), stage: sampler.kind === 'rank' ? this.rank % sampler.partition.numStages : all.stage };
  }

  /** The `rank` rule: rank r's samples all in stage r mod K, weighted so that the group's loss is unbiased. */
  private rankRuleNoise(sampler: StageSampler, uniforms: UniformSource): NoiseBatch {
    const k = sampler.partition.numStages;
    const u = uniforms(this.micro);
    const sigma = new Float64Array(this.micro);
    const weight = new Float64Array(this.micro);
    const count = this.share.count;
    for (let r = 0; r < this.size; r++) {
      const stage = r % k;
      const ranksOnStage = Math.floor((this.size - 1 - stage) / k) + 1;
      const part = sampler.drawInStage(stage, u.subarray(r * count, (r + 1) * count), (sampler.stageMasses()[stage] * this.size) / ranksOnStage);
      sigma.set(part.sigma, r * count);
      weight.set(part.weight, r * count);
    }
    return { sigma, weight, stage: -1 };
  }

  /** Records the unweighted loss of this rank's next sample (they come in micro-batch order). */
  addSampleLoss(loss: number): void {
    const { start, count } = this.share;
    const c = this.sampleCursor++;
    this.stepLosses[Math.floor(c / count) * this.micro + start + (c % count)] = loss;
  }

  /**
   * After backward, before the gradients are repaired, clipped and applied: finishes summing the gradients
   * over the ranks and returns the step's loss over the whole batch. Parameters no sample of any rank
   * reached (a decoder without samples) end without a gradient, as in one process.
   */
  reduceStep(localLoss: number, wantsToStop: boolean): number {
    const generator = this.generator;
    const params = this.model.net.parameters();
    const reached = this.buckets.finish();
    const n = params.length;
    const host = new Float64Array(2 + n + this.size + this.stepLosses.length);
    host[0] = localLoss;
    host[1] = wantsToStop ? 1 : 0;
    reached.forEach((r, i) => (host[2 + i] = r ? 1 : 0));
    host[2 + n + this.rank] = generator.state().offset;
    host.set(this.stepLosses, 2 + n + this.size);
    this.stepLosses.fill(0);
    const sum = this.communicator.allReduceHostSum(host);
    params.forEach((p, i) => {
      if (sum[2 + i] === 0) {
        p.grad!.dispose();
        p.grad = null;
      }
    });
    this.stopVote = sum[1] > 0;
    if (this.mode === 'per-rank') generator.alignTo(Math.max(...sum.subarray(2 + n, 2 + n + this.size)));
    this.gatheredLosses = sum.slice(2 + n + this.size);
    this.sampleCursor = 0;
    return sum[0];
  }

  /** Between the micro-batches of a step in `per-rank` mode: brings the ranks' generators to one offset. */
  alignGenerators(): void {
    if (this.mode !== 'per-rank') return;
    const generator = this.generator;
    const offsets = new Float64Array(this.size);
    offsets[this.rank] = generator.state().offset;
    generator.alignTo(Math.max(...this.communicator.allReduceHostSum(offsets)));
  }

  /** Whether any rank asked to stop at the last step (a time limit): all ranks stop together. */
  get stopRequested(): boolean {
    return this.stopVote;
  }

  /** The whole batch's noise levels and per-sample losses of the last step, in batch order (after reduceStep). */
  lastStep(): { sigma: Float64Array; loss: Float64Array } {
    return { sigma: this.stepSigmas, loss: this.gatheredLosses };
  }
}
