/**
 * EDM's augmentation (augment.ts) in worker threads, so that the data loader augments the next batch while
 * the current one trains: on one core it costs about as much time as a GPU step takes, so a batch is split
 * between a few threads. The choices are drawn here, from the batch's own place in the Philox stream
 * (AugmentPipe.drawBatch), and every image is augmented alone, so the threads compute exactly what one
 * thread would (AugmentPipe.augmentBatch), in any order and any split.
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { AUGMENT_LABEL_DIM, type AugmentParams, AugmentPipe, type AugmentedBatch } from './augment.js';

export interface AugmentRequest {
  id: number;
  pixels: Uint8Array;
  shape: [number, number, number, number];
  params: AugmentParams[];
}

export interface AugmentReply {
  id: number;
  images?: Float32Array;
  labels?: Float32Array;
  error?: string;
}

type Waiting = { resolve: (b: AugmentedBatch) => void; reject: (e: Error) => void };

/** Threads a batch is split between: enough to stay ahead of one GPU, leaving cores to the rest. */
export const AUGMENT_THREADS = Math.max(1, Math.min(4, availableParallelism() - 1));

export class AugmentThreads {
  private readonly pipe: AugmentPipe;
  private workers: Worker[] = [];
  /** Requests sent to each thread and not yet answered. */
  private readonly outstanding = new Map<Worker, number>();
  private nextId = 0;
  private readonly pending = new Map<number, Waiting>();

  constructor(
    probability: number,
    readonly seed: number,
    readonly batchSize: number,
    readonly threads = AUGMENT_THREADS,
  ) {
    this.pipe = new AugmentPipe(probability);
  }

  /**
   * Batch number `batch` of the run (over all epochs) augmented in the threads; `pixels` (uint8 NCHW) are
   * copied. `positions`: the places in the whole batch of the images given (a data-parallel rank's share),
   * whose choices are those one process would draw for them.
   */
  async augment(pixels: Uint8Array, shape: readonly [number, number, number, number], batch: number, positions?: Int32Array): Promise<AugmentedBatch> {
    const [n, c, h, w] = shape;
    const whole = this.pipe.drawBatch(positions ? this.batchSize : n, this.seed, batch, this.batchSize);
    const params = positions ? Array.from(positions, (p) => whole[p]) : whole;
    const per = Math.ceil(n / this.threads);
    const workers = this.started().slice(0, Math.ceil(n / per));
    const parts = workers.map((worker, k) => {
      const [from, to] = [Math.min(n, k * per), Math.min(n, (k + 1) * per)];
      return this.request(worker, { id: this.nextId++, pixels: pixels.slice(from * c * h * w, to * c * h * w), shape: [to - from, c, h, w], params: params.slice(from, to) });
    });
    const done = await Promise.all(parts);
    const images = new Float32Array(n * c * h * w);
    const labels = new Float32Array(n * AUGMENT_LABEL_DIM);
    let at = 0;
    for (const part of done) {
      images.set(part.images, at * c * h * w);
      labels.set(part.labels, at * AUGMENT_LABEL_DIM);
      at += part.labels.length / AUGMENT_LABEL_DIM;
    }
    return { images, labels };
  }

  /** Ends the threads; batches still pending fail. */
  close(): void {
    for (const worker of this.workers) void worker.terminate();
    this.workers = [];
    this.outstanding.clear();
    this.failAll(new Error('the augmentation threads were closed'));
  }

  private request(worker: Worker, request: AugmentRequest): Promise<AugmentedBatch> {
    return new Promise((resolve, reject) => {
      this.pending.set(request.id, { resolve, reject });
      // Waiting for a batch keeps the process alive; idle threads do not.
      this.outstanding.set(worker, (this.outstanding.get(worker) ?? 0) + 1);
      worker.ref();
      worker.postMessage(request, [request.pixels.buffer as ArrayBuffer]);
    });
  }

  private started(): Worker[] {
    if (this.workers.length > 0) return this.workers;
    this.workers = Array.from({ length: this.threads }, () => {
      // No inherited node options: some stop a worker from starting (--input-type, as the CPU pool notes).
      const worker = new Worker(new URL('./augment-worker.js', import.meta.url), { execArgv: [] });
      worker.unref();
      worker.on('message', (reply: AugmentReply) => {
        const left = (this.outstanding.get(worker) ?? 1) - 1;
        this.outstanding.set(worker, left);
        if (left === 0) worker.unref();
        const waiting = this.pending.get(reply.id);
        this.pending.delete(reply.id);
        if (!waiting) return;
        if (reply.error !== undefined) waiting.reject(new Error(`augmentation failed: ${reply.error}`));
        else waiting.resolve({ images: reply.images!, labels: reply.labels! });
      });
      worker.on('error', (e) => {
        this.workers = this.workers.filter((x) => x !== worker);
        this.failAll(new Error(`an augmentation thread failed: ${e.message}`));
      });
      return worker;
    });
    return this.workers;
  }

  private failAll(error: Error): void {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }
}
