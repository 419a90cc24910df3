/**
 * The test double of the NCCL communicator: ranks are worker threads of one process and the collectives go
 * through shared memory, so the rank logic of training runs on the CPU (CI, machines without GPUs) with
 * the same interface, the same blocking semantics and the same failure behaviour (a rank that fails ends
 * the group with its message). Sums are taken in rank order in float32, one rounding per addition as a
 * GPU reduction makes them, so every rank holds identical results.
 */
import type { Tensor } from '../tensor/index.js';
import type { Communicator } from './communicator.js';

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

  constructor(
    private readonly group: ThreadGroup,
    readonly rank: number,
  ) {
    if (!Number.isInteger(rank) || rank < 0 || rank >= group.size) throw new Error(`rank ${rank} is not in a group of ${group.size}`);
    this.size = group.size;
    this.control = new Int32Array(group.control);
    this.slots = new Float64Array(group.slots);
  }

  allReduceSum(tensors: readonly Tensor[]): void {
    for (const t of tensors) {
      if (t.dtype !== 'float32') throw new Error(`allReduceSum: float32 tensors expected, got ${t.dtype}`);
      const summed = this.reduce(t.toFloat32Array(), Math.fround);
      t.backend.upload(t.buffer, Float32Array.from(summed));
    }
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
