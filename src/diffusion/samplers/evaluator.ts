/**
 * The samplers' only door to the network: evaluates the denoiser for a whole batch at one noise level and
 * counts evaluations, in total and per stage of a StagePartition (a multistage network runs the decoder of
 * that stage, so this is the cost that matters). An evaluation of a batch at one level counts once.
 */
import * as T from '../../tensor/index.js';
import type { Tensor } from '../../tensor/index.js';
import { StagePartition } from '../../stages/stage-partition.js';
import type { Denoiser } from '../denoiser.js';
import { noiseLevels } from '../../models/noise-levels.js';

export class Evaluator {
  evaluations = 0;
  readonly evaluationsPerStage: number[];

  constructor(
    private readonly denoiser: Denoiser,
    readonly partition: StagePartition = StagePartition.single(),
  ) {
    this.evaluationsPerStage = new Array<number>(partition.numStages).fill(0);
  }

  /** D(x; sigma) with every sample at `sigma`. */
  denoise(x: Tensor, sigma: number): Tensor {
    if (!(sigma > 0) || !Number.isFinite(sigma)) throw new Error(`internal: a sampler evaluated the denoiser at sigma = ${sigma}`);
    const sigmas = noiseLevels(new Float64Array(x.shape[0]).fill(sigma), x.backend);
    // Count the stage of the float32 value the network receives, which is what a multistage network routes on.
    this.evaluationsPerStage[this.partition.stageOf(Math.fround(sigma))]++;
    this.evaluations++;
    const d = this.denoiser(x, sigmas);
    if (d.shape.join() !== x.shape.join()) throw new Error(`denoiser returned [${d.shape.join(', ')}] for input [${x.shape.join(', ')}]`);
    return d;
  }

  /** The probability-flow direction dx/dsigma = (x - D(x; sigma)) / sigma, which is also the predicted noise. */
  epsilon(x: Tensor, sigma: number): Tensor {
    return T.mulScalar(T.sub(x, this.denoise(x, sigma)), 1 / sigma);
  }
}
