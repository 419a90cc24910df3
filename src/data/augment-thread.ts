/**
 * EDM's augmentation (augment.ts) in a worker thread, so that the data loader augments the next batch
 * while the current one trains: on the host it costs about as much time as a GPU step takes. Each batch is
 * augmented from its own place in the Philox stream (AugmentPipe.augmentBatch), so the thread computes
 * exactly what the calling thread would, in any order.
 */
import { Worker } from 'node:worker_threads';
import type { AugmentedBatch } from './augment.js';

export interface AugmentRequest {
  id: number;
  pixels: Uint8Array;
  shape: [number, number, number, number];
  probability: number;
  seed: number;
  batch: number;
  batchSize: number;
}

export interface AugmentReply {
  id: number;
  images?: Float32Array;
  labels?: Float32Array;
  error?: string;
}

export class AugmentThread {
  private worker: Worker | null = null;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (b: AugmentedBatch) => void; reject: (e: Error) => void }>();

  constructor(
    readonly probability: number,
    readonly seed: number,
    readonly batchSize: number,
  ) {}

  /** Batch number `batch` of the run (over all epochs), augmented in the thread; `pixels` are copied. */
  augment(pixels: Uint8Array, shape: readonly [number, number, number, number], batch: number): Promise<AugmentedBatch> {
    const worker = this.started();
    const id = this.nextId++;
    const request: AugmentRequest = { id, pixels: pixels.slice(), shape: [...shape], probability: this.probability, seed: this.seed, batch, batchSize: this.batchSize };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      // Waiting for a batch keeps the process alive; an idle thread does not.
      worker.ref();
      worker.postMessage(request, [request.pixels.buffer as ArrayBuffer]);
    });
  }

  /** Ends the thread; batches still pending fail. */
  close(): void {
    void this.worker?.terminate();
    this.worker = null;
    this.failAll(new Error('the augmentation thread was closed'));
  }

  private started(): Worker {
    if (this.worker) return this.worker;
    // No inherited node options: some stop a worker from starting (--input-type, as the CPU pool notes).
    const worker = new Worker(new URL('./augment-worker.js', import.meta.url), { execArgv: [] });
    worker.unref();
    worker.on('message', (reply: AugmentReply) => {
      const waiting = this.pending.get(reply.id);
      this.pending.delete(reply.id);
      if (this.pending.size === 0) worker.unref();
      if (!waiting) return;
      if (reply.error !== undefined) waiting.reject(new Error(`augmentation failed: ${reply.error}`));
      else waiting.resolve({ images: reply.images!, labels: reply.labels! });
    });
    worker.on('error', (e) => {
      this.worker = null;
      this.failAll(new Error(`the augmentation thread failed: ${e.message}`));
    });
    this.worker = worker;
    return worker;
  }

  private failAll(error: Error): void {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }
}
