/**
 * The collective operations data-parallel training needs, behind one interface: NCCL on GPUs
 * (nccl-communicator.ts) and an in-process group of worker threads for tests on the CPU
 * (thread-communicator.ts). Every rank calls the same operations in the same order; a call returns once
 * every rank has contributed (for NCCL: once the work is queued on the stream, in stream order).
 */
import type { Tensor } from '../tensor/index.js';

export interface Communicator {
  /** This process's (or thread's) place in the group, 0 to size - 1. */
  readonly rank: number;
  readonly size: number;
  /** What it runs on, for logs: "nccl 2.28.3", "threads". */
  readonly description: string;
  /**
   * Replaces each tensor by its sum over the ranks, in place. Every rank passes tensors of the same
   * shapes and dtypes in the same order (the model's gradients).
   */
  allReduceSum(tensors: readonly Tensor[]): void;
  /** The element-wise sum over the ranks of a small host vector (losses, votes, generator offsets). */
  allReduceHostSum(values: Float64Array): Float64Array;
  /**
   * Ends the group after a failure on this rank. The thread group makes every rank's current or next
   * collective throw with `reason`; NCCL's abort is local, and the launcher stops the other processes.
   */
  abort(reason: string): void;
  /** Releases the group's resources; the communicator is unusable afterwards. */
  close(): void;
}

/** Where a rank's share of a batch lies: the samples [start, start + count) of each micro-batch. */
export interface BatchShare {
  start: number;
  count: number;
}

/** Rank `rank`'s equal share of `batch` samples split over `size` ranks; `what` names the batch in the error. */
export function batchShare(batch: number, rank: number, size: number, what: string): BatchShare {
  if (batch % size !== 0) throw new Error(`${what} (${batch}) must be a multiple of the number of ranks (${size}), so that every rank takes an equal share`);
  const count = batch / size;
  return { start: rank * count, count };
}
