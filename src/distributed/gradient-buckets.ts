/**
 * Gradient sums overlapped with the backward pass, as PyTorch DDP makes them: the parameters are grouped
 * into buckets of about `bucketBytes` in reverse order of registration (the order backward reaches them:
 * the output layers' gradients are final first), and each bucket's sum starts as soon as the gradient of
 * every parameter in it is final, while backward goes on with the earlier layers. Final means: stored by
 * the step's last backward pass, or not reached by that pass at all (its gradient came from an earlier
 * micro-batch, or is zero: a decoder this rank's samples did not reach), which is known when the pass
 * begins. Buckets start strictly in their order, so every rank starts the same sums in the same order
 * whatever order its gradients became final in. finish() starts what is left and waits for all.
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
  /** Parameters given zeros because this rank's step did not reach them. */
  private readonly zeroed = new Set<T.Tensor>();
  /** The next bucket to start: buckets start in order. */
  private next = 0;
  /** The bucket sum started last: sums complete in the order they start, so waiting for it waits for all. */
  private lastStarted: PendingSum | null = null;

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

  /**
   * Before the step's last backward pass, told the leaves it reaches: the parameters it does not reach
   * have their final gradient already, and the buckets they fill start at once.
   */
  lastPassBegins(leaves: readonly T.Tensor[]): void {
    const reached = new Set(leaves);
    for (const p of this.params) if (!reached.has(p)) this.markFinal(p);
    this.startReady();
  }

  /** Called by the last backward pass for each leaf whose gradient it has made final. */
  gradientFinal(leaf: T.Tensor): void {
    if (!this.bucketOf.has(leaf)) return; // a leaf that is not a parameter (an input that requires grad)
    if (this.final.has(leaf)) throw new Error('internal: a gradient was reported final twice in one step');
    this.markFinal(leaf);
    this.startReady();
  }

  /**
   * After the step's backward passes: starts the buckets not yet started (a parameter without a gradient
   * gets zeros) and waits for all sums. Returns which parameters had a gradient of their own on this
   * rank, in the order of `params`.
   */
  finish(): boolean[] {
    for (const p of this.params) this.markFinal(p);
    this.startReady();
    this.lastStarted?.wait();
    const reached = this.params.map((p) => !this.zeroed.has(p));
    this.lastStarted = null;
    this.final.clear();
    this.zeroed.clear();
    this.next = 0;
    this.buckets.forEach((b, i) => (this.remaining[i] = b.length));
    return reached;
  }

  private markFinal(p: T.Tensor): void {
    if (this.final.has(p)) return;
    if (p.grad === null) {
      p.grad = T.keep(T.zeros(p.shape, p.dtype, p.backend));
      this.zeroed.add(p);
    }
    this.final.add(p);
    this.remaining[this.bucketOf.get(p)!]--;
  }

  private startReady(): void {
    while (this.next < this.buckets.length && this.remaining[this.next] === 0) {
      this.lastStarted = this.communicator.startAllReduceSum(this.buckets[this.next].map((p) => p.grad!));
      this.next++;
    }
  }
}
