/**
 * Sampling at scale, as EDM's generate.py does it: image i (counted over the whole run) is drawn from seed
 * `seed + i` with its own generator, batch after batch, and handed to a sink as 8-bit NHWC pixels, so
 * 50,000 images never sit in memory together, a run can be split or resumed (`first`), and any subset is
 * the same images bit for bit whatever the batch size (on the CPU; a GPU's kernels may pick another
 * algorithm per batch size). Precision and device are the current backend's (useDevice).
 */
import type { StagePartition } from '../stages/stage-partition.js';
import type { Denoiser } from '../diffusion/denoiser.js';
import { sample } from '../diffusion/sample.js';
import { type SamplerName, type SamplerSpec } from '../diffusion/samplers/index.js';
import { type Uint8Images, toUint8Images } from '../data/grid.js';

export interface GeneratedBatch extends Uint8Images {
  /** Index (in the whole run) of the batch's first image; its images are first .. first + count - 1. */
  first: number;
}

export interface GenerateOptions {
  /** The network as D(x; sigma) (DiffusionModel.denoiser()). */
  model: Denoiser;
  /** [C, H, W] of one image. */
  shape: readonly number[];
  /** Default 'heun'. */
  sampler?: SamplerName | SamplerSpec;
  /** Default: the sampler's own. */
  steps?: number;
  /** The model's stages, for counting evaluations per stage. */
  partition?: StagePartition;
  /** How many images. */
  count: number;
  /** Images per network batch. */
  batch: number;
  /** Index of the first image (default 0): a run split in parts, or resumed. */
  first?: number;
  /** Image i comes from seed `seed + i` (default 0). */
  seed?: number;
  /** A class-conditional model: every image of this class (as EDM's generate.py --class), of numClasses. */
  classLabel?: number;
  numClasses?: number;
  /** Classifier-free guidance weight (default 1: plain conditional); see sample(). */
  guidance?: number;
  /** Receives every batch in order; awaited before the next one is drawn. */
  sink: (batch: GeneratedBatch) => void | Promise<void>;
}

export interface GenerateSummary {
  count: number;
  /** Network evaluations one image's trajectory takes, in total and per stage (the same for every batch). */
  evaluationsPerImage: number;
  evaluationsPerStage: number[];
  seconds: number;
}

export async function generateImages(options: GenerateOptions): Promise<GenerateSummary> {
  const { count, batch, first = 0, seed = 0 } = options;
  for (const [name, value, min] of [['count', count, 1], ['batch', batch, 1], ['first', first, 0], ['seed', seed, 0]] as const) {
    if (!Number.isSafeInteger(value) || value < min) throw new Error(`${name} must be a whole number >= ${min}, got ${value}`);
  }
  if (!Number.isSafeInteger(seed + first + count)) throw new Error(`seeds up to ${seed} + ${first} + ${count} exceed the largest safe integer`);
  const started = performance.now();
  let perImage: { evaluations: number; evaluationsPerStage: number[] } | undefined;
  for (let done = 0; done < count; done += batch) {
    const n = Math.min(batch, count - done);
    const index = first + done;
    const result = sample({
      model: options.model,
      shape: options.shape,
      seeds: Array.from({ length: n }, (_, k) => seed + index + k),
      sampler: options.sampler,
      steps: options.steps,
      partition: options.partition,
      ...(options.classLabel === undefined ? {} : { classes: [options.classLabel], numClasses: options.numClasses, guidance: options.guidance }),
    });
    let images: Uint8Images;
    try {
      images = toUint8Images(result.images);
    } finally {
      result.images.dispose();
    }
    perImage ??= result;
    await options.sink({ ...images, first: index });
  }
  return { count, evaluationsPerImage: perImage!.evaluations, evaluationsPerStage: perImage!.evaluationsPerStage, seconds: (performance.now() - started) / 1000 };
}
