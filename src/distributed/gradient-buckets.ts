/**
 * Gradient sums overlapped with the backward pass, as PyTorch DDP makes them: the parameters are grouped
 * into buckets of about `bucketBytes` in reverse order of registration (the order backward reaches them:
 * the output layers' gradients are final first), and each bucket's sum starts as soon as the last
 * backward pass of the step has stored the final gradient of every parameter in it, while backward goes
 * on with the earlier layers. Buckets start strictly in their order, so every rank starts the same sums in
 * the same order whatever order its gradients became final in (a rank whose samples did not reach a
 * decoder finds that decoder's gradients final only at the end). finish() starts what is left and waits.
 */
import * as T from '../tensor/index.js';
import type { Communicator, PendingSum } from './communicator.js';

export class GradientBuckets {
  /** Each bucket's parameters. */
  readonly buckets: readonly (readonly T.Tensor[])[];
  private readonly bucketOf = new Map<T.Tensor, number>();
  /** Per bucket: its parameters whose gradient is not yet final in this step. */
  private readonly remaining: number[];
  private readonly final = new Set<T.Tensor>();
  /** The next bucket to start: buckets start in order. */
  private next = 0;
  private readonly started: PendingSum[] = [];

  constructor(
    private readonly communicator: Communicator,
    private readonly params: readonly T.Tensor[],
    bucketBytes: number,
  ) {
    if (!(bucketBytes > 0)) throw new Error(`the gradient bucket size must be positive, got ${bucketBytes} bytes`);
    const buckets: T.Tensor[][] = [];
    let bytes = Infinity;
    for (const p of [...params].reverse()) {
      if (bytes >= bucketBytes) {
        buckets.push([]);
        bytes = 0;
      }
      buckets.at(-1)!.push(p);
      bytes += p.buffer.byteLength;
      this.bucketOf.set(p, buckets.length - 1);
    }
    this.buckets = buckets;
    this.remaining = buckets.map((b) => b.length);
  }

  /** Called by the last backward pass of a step for each leaf whose gradient it has made final. */
  gradientFinal(leaf: T.Tensor): void {
    const b = this.bucketOf.get(leaf);
    if (b === undefined) return; // a leaf that is not a parameter (an input that requires grad)
    if (this.final.has(leaf)) throw new Error('internal: a gradient was reported final twice in one step');
    this.final.add(leaf);
    this.remaining[b]--;
    this.startReady();
  }

  /**
   * After the step's backward passes: gives each parameter without a gradient (no sample of this rank
   * reached it) zeros, starts the buckets not yet started and waits for all sums. Returns which
   * parameters had a gradient of their own on this rank, in the order of `params`.
   */
  finish(): boolean[] {
    const reached = this.params.map((p) => p.grad !== null);
    for (const p of this.params) {
      if (p.grad === null) p.grad = T.keep(T.zeros(p.shape, p.dtype, p.backend));
      if (!this.final.has(p)) {
        this.final.add(p);
        this.remaining[this.bucketOf.get(p)!]--;
      }
    }
    this.startReady();
    for (const sum of this.started) sum.wait();
    this.started.length = 0;
    this.final.clear();
    this.next = 0;
    this.buckets.forEach((b, i) => (this.remaining[i] = b.length));
    return reached;
  }

  private startReady(): void {
    while (this.next < this.buckets.length && this.remaining[this.next] === 0) {
      this.started.push(this.communicator.startAllReduceSum(this.buckets[this.next].map((p) => p.grad!)));
      this.next++;
    }
  }
}
