/**
 * How a training batch's noise levels are drawn across stages. Every strategy returns, per sample, a
 * sigma and a loss weight; the weight keeps the expected gradient equal to the formulation's own
 * objective where the strategy changes the sampling density (`balanced`).
 *
 * - `edm-marginal` (official EDM code): one stage per micro-batch, chosen with its probability mass
 *   under the formulation's distribution; all sigmas from that distribution truncated to the stage (by
 *   inverse CDF, not rejection). The marginal over many batches is the formulation's.
 * - `uniform` (official DPM-Solver code): one stage per micro-batch, chosen uniformly; sigmas truncated
 *   to the stage. Changes the marginal on purpose, as the paper's VP setup does.
 * - `per-sample`: every sample independently from the formulation's distribution; batches mix stages
 *   and the network routes inside the batch.
 * - `balanced`: every stage gets a set share of each batch; a sample of stage k carries the weight
 *   mass_k / share_k. Under EDM's log-normal the highest-noise stage holds 0.35% of the mass, so without
 *   this its decoder would see almost no data.
 * - `balanced-batch`: the shares of `balanced` as probabilities of one stage per micro-batch, with the same
 *   weight mass_k / share_k. The gradient is as unbiased as `balanced`'s, and every micro-batch is one
 *   stage, so a multistage network runs one decoder on the whole batch instead of routing a mixed one.
 * - `rank` (several GPUs; the LDM multi-stage code's rule): rank r trains stage r mod K only, its
 *   samples weighted by mass_k * ranks / (ranks on stage k). Drawn by the data-parallel trainer
 *   (train/data-parallel.ts) through drawInStage().
 */
import type { StagePartition } from '../stages/stage-partition.js';
import type { NoiseDistribution } from '../diffusion/noise-distribution.js';

export type StageSamplingKind = 'edm-marginal' | 'uniform' | 'per-sample' | 'balanced' | 'balanced-batch' | 'rank';
/** The kinds draw() serves: every one but `rank`, which needs a training group. */
export const STAGE_SAMPLING_KINDS: readonly StageSamplingKind[] = ['edm-marginal', 'uniform', 'per-sample', 'balanced', 'balanced-batch'];
/** Every kind a config may name. */
export const ALL_STAGE_SAMPLING_KINDS: readonly StageSamplingKind[] = [...STAGE_SAMPLING_KINDS, 'rank'];

export interface NoiseBatch {
  sigma: Float64Array;
  weight: Float64Array;
  /** The micro-batch's stage when every sample is in one stage, else -1. */
  stage: number;
}

/** A source of uniforms in (0, 1) (the trainer passes its seeded Philox generator). */
export type UniformSource = (count: number) => Float64Array;

export class StageSampler {
  private readonly masses: number[];
  private readonly cdfBounds: [number, number][];
  private readonly shares: number[];

  constructor(
    readonly kind: StageSamplingKind,
    readonly partition: StagePartition,
    readonly distribution: NoiseDistribution,
    shares?: readonly number[],
  ) {
    if (!ALL_STAGE_SAMPLING_KINDS.includes(kind)) throw new Error(`unknown stage sampling "${kind}" (expected one of ${ALL_STAGE_SAMPLING_KINDS.join(', ')})`);
    const k = partition.numStages;
    this.cdfBounds = Array.from({ length: k }, (_, s) => {
      const [lo, hi] = partition.interval(s);
      return [distribution.cdf(lo), distribution.cdf(hi)] as [number, number];
    });
    this.masses = this.cdfBounds.map(([a, b]) => b - a);
    this.masses.forEach((m, s) => {
      if (!(m > 0)) throw new Error(`stage ${s} has no probability mass under ${distribution.name}; move the stage boundaries`);
    });
    const given = shares ?? new Array<number>(k).fill(1 / k);
    if (given.length !== k || given.some((x) => !(x > 0))) throw new Error(`stage shares must be ${k} positive numbers, got ${JSON.stringify(shares)}`);
    const total = given.reduce((a, b) => a + b, 0);
    this.shares = given.map((x) => x / total);
  }

  /** Probability mass of each stage under the formulation's distribution. */
  stageMasses(): readonly number[] {
    return this.masses;
  }

  /** A sigma from the distribution truncated to stage s, from a uniform u. */
  private sigmaInStage(s: number, u: number): number {
    const [a, b] = this.cdfBounds[s];
    const p = a + u * (b - a);
    return this.distribution.quantile(Math.min(Math.max(p, 1e-300), 1 - 1e-16));
  }

  private pickStage(u: number, probabilities: readonly number[]): number {
    let acc = 0;
    for (let s = 0; s < probabilities.length - 1; s++) {
      acc += probabilities[s];
      if (u < acc) return s;
    }
    return probabilities.length - 1;
  }

  /** Sigmas of stage `stage`, one per uniform, each with loss weight `weight`. */
  drawInStage(stage: number, u: Float64Array, weight: number): NoiseBatch {
    return { sigma: u.map((x) => this.sigmaInStage(stage, x)), weight: new Float64Array(u.length).fill(weight), stage };
  }

  draw(batchSize: number, uniforms: UniformSource): NoiseBatch {
    if (!(Number.isInteger(batchSize) && batchSize > 0)) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
    if (this.kind === 'rank') throw new Error("stage sampling 'rank' gives each rank of a training group one stage: train with --gpus (or RANK/WORLD_SIZE), at least one rank per stage");
    const sigma = new Float64Array(batchSize);
    const weight = new Float64Array(batchSize).fill(1);
    const k = this.partition.numStages;
    switch (this.kind) {
      case 'edm-marginal':
      case 'uniform':
      case 'balanced-batch': {
        const u = uniforms(batchSize + 1);
        const probabilities = this.kind === 'edm-marginal' ? this.masses : this.kind === 'uniform' ? new Array<number>(k).fill(1 / k) : this.shares;
        const stage = this.pickStage(u[0], probabilities);
        for (let i = 0; i < batchSize; i++) sigma[i] = this.sigmaInStage(stage, u[i + 1]);
        // Importance weight of balanced-batch: the stage's probability under the formulation over its
        // probability here (`uniform` changes the marginal on purpose and keeps weight 1).
        if (this.kind === 'balanced-batch') weight.fill(this.masses[stage] / this.shares[stage]);
        return { sigma, weight, stage };
      }
      case 'per-sample': {
        const u = uniforms(batchSize);
        for (let i = 0; i < batchSize; i++) sigma[i] = this.distribution.quantile(u[i]);
        return { sigma, weight, stage: this.commonStage(sigma) };
      }
      case 'balanced': {
        const counts = this.balancedCounts(batchSize);
        const u = uniforms(batchSize);
        let i = 0;
        counts.forEach((count, s) => {
          for (let j = 0; j < count; j++, i++) {
            sigma[i] = this.sigmaInStage(s, u[i]);
            // Importance weight: target density / sampling density within the batch.
            weight[i] = (this.masses[s] * batchSize) / count;
          }
        });
        return { sigma, weight, stage: this.commonStage(sigma) };
      }
    }
  }

  /** Splits a batch into per-stage counts by the shares (largest remainder), each stage at least one sample when possible. */
  balancedCounts(batchSize: number): number[] {
    const exact = this.shares.map((s) => s * batchSize);
    const counts = exact.map(Math.floor);
    let left = batchSize - counts.reduce((a, b) => a + b, 0);
    const order = exact.map((e, s) => [e - Math.floor(e), s] as const).sort((a, b) => b[0] - a[0]);
    for (const [, s] of order) {
      if (left === 0) break;
      counts[s]++;
      left--;
    }
    return counts;
  }

  private commonStage(sigma: Float64Array): number {
    const first = this.partition.stageOf(sigma[0]);
    for (let i = 1; i < sigma.length; i++) if (this.partition.stageOf(sigma[i]) !== first) return -1;
    return first;
  }
}
