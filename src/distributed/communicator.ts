/**
 * The collective operations data-parallel training needs, behind one interface: NCCL on GPUs
 * (nccl-communicator.ts) and an in-process group of worker threads for tests on the CPU
 * (thread-communicator.ts). Every rank calls the same operations in the same order. A gradient sum is
 * started and later waited for, so that it runs while the backward pass goes on; the host sums return
 * once every rank has contributed.
 */
import type { Tensor } from '../tensor/index.js';

/** A sum in flight: the tensors hold it once wait() has returned (for NCCL: for work queued after it). */
export interface PendingSum {
  wait(): void;
}

export interface Communicator {
  /** This process's (or thread's) place in the group, 0 to size - 1. */
  readonly rank: number;
  readonly size: number;
  /** What it runs on, for logs: "nccl 2.28.3", "threads". */
  readonly description: string;
  /**
   * Starts replacing each tensor by its sum over the ranks, in place. Every rank passes tensors of the same
   * shapes and dtypes in the same order (a bucket of the model's gradients). The tensors' values are read
   * at any time from this call on and their sums are in place only after wait(): until then they must
   * neither change nor be freed. Sums complete in the order they were started.
   */
  startAllReduceSum(tensors: readonly Tensor[]): PendingSum;
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
