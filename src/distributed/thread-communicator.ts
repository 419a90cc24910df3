/**
 * The test double of the NCCL communicator: ranks are worker threads of one process and the collectives go
 * through shared memory, so the rank logic of training runs on the CPU (CI, machines without GPUs) with
 * the same interface, the same blocking semantics and the same failure behaviour (a rank that fails ends
 * the group with its message). Sums are taken in rank order in float32, one rounding per addition as a
 * GPU reduction makes them, so every rank holds identical results.
 *
 * A gradient sum is as asynchronous as NCCL's on its own stream allows it to be, at both ends: the
 * tensors are read when the sum starts (a stream may run it at once) and the sums land only at wait()
 * (a stream may run it last). A gradient that changes after its sum started is summed without the
 * change, and one read before wait() is still this rank's own, so tests see either mistake as wrong
 * weights, and a tensor freed in between as an error.
 */
import type { Tensor } from '../tensor/index.js';
import type { Communicator, PendingSum } from './communicator.js';

/** What the threads of one group share; made once with threadGroup() and posted to every rank's worker. */
export interface ThreadGroup {
  size: number;
  /** [arrived, generation, failed, message length] */
  control: SharedArrayBuffer;
  /** `size` slots of `slotLength` float64 values: each rank's contribution to the collective under way. */
  slots: SharedArrayBuffer;
  slotLength: number;
  message: SharedArrayBuffer;
}

interface StartedSum {
  tensors: readonly Tensor[];
  /** The tensors' values when the sum started. */
  values: Float32Array[];
  done: boolean;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

const ARRIVED = 0;
const GENERATION = 1;
const FAILED = 2;
const MESSAGE_LENGTH = 3;
const MESSAGE_BYTES = 4096;
/** How long a rank waits at a barrier before it looks again whether another rank failed. */
const POLL_MS = 200;

/** A group of `size` thread ranks whose collectives move at most `slotLength` numbers at a time. */
export function threadGroup(size: number, slotLength = 1 << 16): ThreadGroup {
  if (!Number.isInteger(size) || size < 1) throw new Error(`a thread group needs a positive whole number of ranks, got ${size}`);
  return {
    size,
    control: new SharedArrayBuffer(4 * Int32Array.BYTES_PER_ELEMENT),
    slots: new SharedArrayBuffer(size * slotLength * Float64Array.BYTES_PER_ELEMENT),
    slotLength,
    message: new SharedArrayBuffer(MESSAGE_BYTES),
  };
}

/** The message a failed rank left in the group, or null while none failed. */
export function groupFailure(group: ThreadGroup): string | null {
  const control = new Int32Array(group.control);
  if (Atomics.load(control, FAILED) === 0) return null;
  return Buffer.from(new Uint8Array(group.message, 0, Atomics.load(control, MESSAGE_LENGTH))).toString('utf8');
}

export class ThreadCommunicator implements Communicator {
  readonly size: number;
  readonly description = 'threads (in-process test double)';
  private readonly control: Int32Array;
  private readonly slots: Float64Array;
  private closed = false;
  /** Sums started and not yet finished, in the order they were started. */
  private readonly started: StartedSum[] = [];

  constructor(
    private readonly group: ThreadGroup,
    readonly rank: number,
  ) {
    if (!Number.isInteger(rank) || rank < 0 || rank >= group.size) throw new Error(`rank ${rank} is not in a group of ${group.size}`);
    this.size = group.size;
    this.control = new Int32Array(group.control);
    this.slots = new Float64Array(group.slots);
  }

  startAllReduceSum(tensors: readonly Tensor[]): PendingSum {
    if (this.closed) throw new Error('the communicator was closed');
    for (const t of tensors) if (t.dtype !== 'float32') throw new Error(`startAllReduceSum: float32 tensors expected, got ${t.dtype}`);
    const sum: StartedSum = { tensors, values: tensors.map((t) => Float32Array.from(t.toFloat32Array())), done: false };
    this.started.push(sum);
    return { wait: () => this.finish(sum) };
  }

  allReduceHostSum(values: Float64Array): Float64Array {
    return this.reduce(values, (x) => x);
  }

  /** Ends the group: every rank's current or next collective throws with `reason`. */
  abort(reason: string): void {
    if (Atomics.compareExchange(this.control, FAILED, 0, 1) !== 0) return;
    const bytes = Buffer.from(reason, 'utf8').subarray(0, MESSAGE_BYTES);
    new Uint8Array(this.group.message).set(bytes);
    Atomics.store(this.control, MESSAGE_LENGTH, bytes.length);
    Atomics.add(this.control, GENERATION, 1);
    Atomics.notify(this.control, GENERATION);
  }

  close(): void {
    this.closed = true;
  }

  /** Finishes the started sums up to `sum`, in order: every rank reduces them in the same order. */
  private finish(sum: StartedSum): void {
    while (!sum.done) {
      const next = this.started.shift()!;
      const summed = this.reduce(concat(next.values), Math.fround);
      let offset = 0;
      next.tensors.forEach((t, i) => {
        const n = next.values[i].length;
        if (t.isDisposed) throw new Error('startAllReduceSum: a tensor was freed before its sum was waited for (it must live until wait() returns)');
        t.backend.upload(t.buffer, Float32Array.from(summed.subarray(offset, offset + n)));
        offset += n;
      });
      next.done = true;
    }
  }

  /** Chunk by chunk: write this rank's slot, wait for all, add the slots in rank order, wait again. */
  private reduce(values: ArrayLike<number>, round: (x: number) => number): Float64Array {
    if (this.closed) throw new Error('the communicator was closed');
    const out = new Float64Array(values.length);
    const n = this.group.slotLength;
    for (let start = 0; start < values.length; start += n) {
      const count = Math.min(n, values.length - start);
      const mine = this.rank * n;
      for (let i = 0; i < count; i++) this.slots[mine + i] = values[start + i];
      this.barrier();
      for (let i = 0; i < count; i++) {
        let sum = this.slots[i];
        for (let r = 1; r < this.size; r++) sum = round(sum + this.slots[r * n + i]);
        out[start + i] = sum;
      }
      this.barrier();
    }
    return out;
  }

  private barrier(): void {
    const c = this.control;
    const generation = Atomics.load(c, GENERATION);
    this.throwIfFailed();
    if (Atomics.add(c, ARRIVED, 1) === this.size - 1) {
      Atomics.store(c, ARRIVED, 0);
      Atomics.add(c, GENERATION, 1);
      Atomics.notify(c, GENERATION);
      return;
    }
    while (Atomics.load(c, GENERATION) === generation) Atomics.wait(c, GENERATION, generation, POLL_MS);
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    const failure = groupFailure(this.group);
    if (failure !== null) throw new Error(`rank ${this.rank} stopped: ${failure}`);
  }
}
