import { Generator, type GeneratorState } from '../tensor/random.js';
import type { Dataset } from './dataset.js';
import { flipHorizontally } from './flip.js';
import type { AugmentedBatch } from './augment.js';
import { AugmentThreads } from './augment-thread.js';

export interface LoaderOptions {
  batchSize: number;
  /** Seed of the loader's own generator (default 0); used only when not resuming. */
  seed?: number;
  /** Mirror each image left-right with probability 1/2. */
  flip?: boolean;
  /** Skip the last batch of an epoch when it would be smaller than batchSize. */
  dropLast?: boolean;
  /** Continue from a position saved with a checkpoint instead of from the start. */
  position?: LoaderPosition;
  /**
   * EDM's augmentation (augment.ts) with this probability, each batch from its own place in the Philox
   * stream of `seed` (so a resumed run gets the same), in worker threads while the previous batch trains.
   */
  augment?: { probability: number; seed: number };
  /**
   * Positions within each batch that this loader hands out, in order (a data-parallel rank's share): the
   * batches, their order and flips stay those of the whole group, so the position is the same for any
   * number of ranks. Default: the whole batch.
   */
  share?: Int32Array;
}

/**
 * Where a loader stands, as plain JSON for a checkpoint: the next batch is batch `batchInEpoch` of
 * `epoch`, whose order and flips are drawn from `epochGenerator`. The dataset length and batch size are
 * kept so that resuming with other ones fails loudly rather than continuing with different batches.
 */
export interface LoaderPosition {
  epoch: number;
  batchInEpoch: number;
  epochGenerator: GeneratorState;
  datasetLength: number;
  batchSize: number;
}

export interface LoaderBatch {
  /** NCHW uint8, flips applied. */
  images: Uint8Array;
  shape: [number, number, number, number];
  /** Dataset index of each image. */
  indices: Int32Array;
  /** 1 where the image was mirrored. */
  flipped: Uint8Array;
  /** The images augmented (float32 in the training range) and their labels, with `augment`. */
  augmented?: AugmentedBatch;
  labels?: Int32Array;
  epoch: number;
  batchInEpoch: number;
}

/** One epoch's randomness, all drawn when the epoch starts so that any batch of it can be rebuilt. */
interface EpochPlan {
  epoch: number;
  order: Int32Array;
  /** A flip decision per position in `order`, drawn whether or not flipping is on, so that turning it
   * on or off does not change the order of later epochs. */
  flips: Uint8Array;
  startState: GeneratorState;
  nextState: GeneratorState;
}

interface Cursor {
  plan: EpochPlan;
  batchInEpoch: number;
}

/**
 * Mini-batches of a dataset, epoch after epoch without end: each epoch is a fresh seeded shuffle, so every
 * image is seen once per epoch. While the consumer works on batch k (awaiting the GPU, say), batch k+1 is
 * already being assembled. position() after receiving batch k says where to resume to get batch k+1 next,
 * with the same images and the same flips.
 */
export class DataLoader implements AsyncIterable<LoaderBatch> {
  readonly batchSize: number;
  readonly batchesPerEpoch: number;
  private readonly flip: boolean;
  private readonly augmentation: AugmentThreads | null;
  private readonly share: Int32Array | null;
  /** The position after the last batch handed out. */
  private consumed: LoaderPosition;

  constructor(
    readonly dataset: Dataset,
    options: LoaderOptions,
  ) {
    const { batchSize } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batch size must be a positive integer, got ${batchSize}`);
    this.batchSize = batchSize;
    this.flip = options.flip ?? false;
    this.augmentation = options.augment ? new AugmentThreads(options.augment.probability, options.augment.seed, batchSize) : null;
    this.share = options.share ?? null;
    if (this.share?.some((p) => !(p >= 0 && p < batchSize))) throw new Error(`a loader's share lists positions outside a batch of ${batchSize}`);
    if (this.share && !options.dropLast) throw new Error('a loader with a share of each batch needs dropLast (every batch full)');
    this.batchesPerEpoch = options.dropLast ? Math.floor(dataset.length / batchSize) : Math.ceil(dataset.length / batchSize);
    if (this.batchesPerEpoch === 0) {
      throw new Error(`${dataset.name} has ${dataset.length} images, fewer than one batch of ${batchSize}; lower the batch size or turn dropLast off`);
    }
    this.consumed = options.position
      ? this.checkedPosition(options.position)
      : { epoch: 0, batchInEpoch: 0, epochGenerator: new Generator(options.seed ?? 0).state(), datasetLength: dataset.length, batchSize };
  }

  /** Where to resume to continue exactly after the last batch handed out (a copy, safe to keep). */
  position(): LoaderPosition {
    return structuredClone(this.consumed);
  }

  /**
   * Batches from the current position on. Breaking out and iterating again continues where the consumer
   * stopped: a batch assembled ahead but not handed out is assembled again.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<LoaderBatch> {
    const { epoch, batchInEpoch, epochGenerator } = this.consumed;
    let cursor: Cursor = { plan: this.planEpoch(epoch, epochGenerator), batchInEpoch };
    let pending = this.assembleSoon(cursor);
    try {
      for (;;) {
        const batch = await pending;
        cursor = this.advance(cursor);
        pending = this.assembleSoon(cursor);
        this.consumed = this.positionAt(cursor);
        yield batch;
      }
    } finally {
      this.augmentation?.close();
    }
  }

  /**
   * Assembles a batch on a later turn of the event loop, so that it overlaps whatever the consumer
   * awaits meanwhile.
   */
  private assembleSoon(cursor: Cursor): Promise<LoaderBatch> {
    const batch = new Promise<LoaderBatch>((resolve, reject) => {
      setImmediate(() => {
        try {
          const assembled = this.assemble(cursor);
          if (!this.augmentation) return resolve(assembled);
          const batchNumber = cursor.plan.epoch * this.batchesPerEpoch + cursor.batchInEpoch;
          this.augmentation.augment(assembled.images, assembled.shape, batchNumber, this.share ?? undefined).then((augmented) => resolve({ ...assembled, augmented }), reject);
        } catch (error) {
          reject(error);
        }
      });
    });
    // The consumer awaits this promise only after finishing its current batch; without a handler
    // attached now, Node would report a failure in between as an unhandled rejection and exit. Awaiting
    // the promise still throws the error to the consumer.
    batch.catch(() => {});
    return batch;
  }

  private assemble({ plan, batchInEpoch }: Cursor): LoaderBatch {
    const start = batchInEpoch * this.batchSize;
    const end = Math.min(start + this.batchSize, plan.order.length);
    const share = this.share;
    const indices = share ? Int32Array.from(share, (p) => plan.order[start + p]) : plan.order.slice(start, end);
    const flipped = !this.flip ? new Uint8Array(indices.length) : share ? Uint8Array.from(share, (p) => plan.flips[start + p]) : plan.flips.slice(start, end);
    const [channels, height, width] = this.dataset.imageShape;
    const shape: LoaderBatch['shape'] = [indices.length, channels, height, width];
    const images = this.dataset.getBatch(indices);
    flipHorizontally(images, shape, flipped);
    return { images, shape, indices, flipped, labels: this.dataset.getLabels?.(indices), epoch: plan.epoch, batchInEpoch };
  }

  private advance({ plan, batchInEpoch }: Cursor): Cursor {
    if (batchInEpoch + 1 < this.batchesPerEpoch) return { plan, batchInEpoch: batchInEpoch + 1 };
    return { plan: this.planEpoch(plan.epoch + 1, plan.nextState), batchInEpoch: 0 };
  }

  private positionAt({ plan, batchInEpoch }: Cursor): LoaderPosition {
    return { epoch: plan.epoch, batchInEpoch, epochGenerator: plan.startState, datasetLength: this.dataset.length, batchSize: this.batchSize };
  }

  /**
   * Fisher-Yates shuffle from the generator's host uniforms, then one flip uniform per position. The
   * uniforms have 23 bits, so with n images each swap target is off from 1/(i+1) by at most about
   * n/2^23 relative (0.6% for 50000 images): no concern for SGD, and the order is exactly reproducible.
   */
  private planEpoch(epoch: number, startState: GeneratorState): EpochPlan {
    const generator = Generator.fromState(startState);
    const n = this.dataset.length;
    const order = Int32Array.from({ length: n }, (_, i) => i);
    const swaps = generator.uniformHost(n);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.min(i, Math.floor(swaps[i] * (i + 1)));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const flips = Uint8Array.from(generator.uniformHost(n), (u) => (u < 0.5 ? 1 : 0));
    return { epoch, order, flips, startState, nextState: generator.state() };
  }

  private checkedPosition(position: LoaderPosition): LoaderPosition {
    const { datasetLength, batchSize, epoch, batchInEpoch } = position;
    if (datasetLength !== this.dataset.length || batchSize !== this.batchSize) {
      throw new Error(
        `the saved data position is for ${datasetLength} images in batches of ${batchSize}, but ${this.dataset.name} has ` +
          `${this.dataset.length} images in batches of ${this.batchSize}; resume with the same data and batch size`,
      );
    }
    if (!Number.isInteger(epoch) || epoch < 0 || !Number.isInteger(batchInEpoch) || batchInEpoch < 0 || batchInEpoch >= this.batchesPerEpoch) {
      throw new Error(`the saved data position (epoch ${epoch}, batch ${batchInEpoch}) is not one of the ${this.batchesPerEpoch} batches of an epoch`);
    }
    return structuredClone(position);
  }
}
