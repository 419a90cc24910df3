/**
 * The paper's three CIFAR-10 stages (found by its Algorithm 1 on CIFAR-10): EDM sigma 2.5103 / 7.6577 and
 * VP time t 0.4420 / 0.6308. Other data and resolutions have other boundaries (`stagediff cluster`).
 */
export const PAPER_CIFAR10_BOUNDARIES = { sigma: [2.5103, 7.6577], vpT: [0.442, 0.6308] } as const;

/**
 * K noise stages as ordered boundaries in EDM's sigma: stage k covers (b[k-1], b[k]], with b[-1] = 0 and
 * b[K-1] = infinity; stage 0 is the lowest noise (closest to the data). This is the official code's rule:
 * sigma exactly on a boundary belongs to the lower stage. Other formulations (VP time t, discrete steps)
 * convert to sigma before asking (diffusion/ owns those conversions); the partition is saved with a model
 * so sampling routes exactly as training did.
 */
export class StagePartition {
  readonly boundaries: readonly number[];

  constructor(boundaries: readonly number[]) {
    for (let i = 0; i < boundaries.length; i++) {
      const b = boundaries[i];
      if (!(b > 0) || !Number.isFinite(b)) throw new Error(`stage boundary ${i} must be a finite sigma > 0, got ${b}`);
      if (i > 0 && !(b > boundaries[i - 1])) throw new Error(`stage boundaries must increase: ${JSON.stringify(boundaries)}`);
    }
    this.boundaries = Object.freeze([...boundaries]);
  }

  /** One stage covering every noise level. */
  static single(): StagePartition {
    return new StagePartition([]);
  }

  get numStages(): number {
    return this.boundaries.length + 1;
  }

  stageOf(sigma: number): number {
    if (!(sigma >= 0)) throw new Error(`noise level sigma must be >= 0, got ${sigma}`);
    let k = 0;
    while (k < this.boundaries.length && sigma > this.boundaries[k]) k++;
    return k;
  }

  /** The sigma interval (lo, hi] of stage k. */
  interval(stage: number): [number, number] {
    if (!Number.isInteger(stage) || stage < 0 || stage >= this.numStages) throw new Error(`stage ${stage} outside 0..${this.numStages - 1}`);
    return [stage === 0 ? 0 : this.boundaries[stage - 1], stage === this.boundaries.length ? Infinity : this.boundaries[stage]];
  }

  /** Indices of the samples in each stage, in batch order. */
  route(sigmas: ArrayLike<number>): Int32Array[] {
    const lists: number[][] = Array.from({ length: this.numStages }, () => []);
    for (let i = 0; i < sigmas.length; i++) lists[this.stageOf(sigmas[i])].push(i);
    return lists.map((l) => Int32Array.from(l));
  }

  toJSON(): { sigma_boundaries: number[] } {
    return { sigma_boundaries: [...this.boundaries] };
  }

  static fromJSON(json: unknown): StagePartition {
    const b = (json as { sigma_boundaries?: unknown })?.sigma_boundaries;
    if (!Array.isArray(b) || b.some((v) => typeof v !== 'number')) throw new Error('stage partition JSON needs "sigma_boundaries": an array of numbers');
    return new StagePartition(b as number[]);
  }
}
