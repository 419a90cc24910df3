/**
 * One rank of a thread group (the NCCL test double) in a worker thread: trains a config with the trainer's
 * communicator set, then posts its final weights, or the error that stopped it.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as T from '../../src/tensor/index.js';
import { cpuBackend, setCpuThreadCount } from '../../src/backend/cpu/index.js';
import { Trainer } from '../../src/train/trainer.js';
import { type ThreadGroup, ThreadCommunicator } from '../../src/distributed/thread-communicator.js';
import type { Communicator } from '../../src/distributed/communicator.js';

export interface RankJob {
  group: ThreadGroup;
  rank: number;
  config: Record<string, unknown>;
  resume?: boolean;
  stopAtImages?: number;
  /** Throw when this rank starts its n-th gradient sum (a bucket; from 1): a rank that fails mid-run. */
  failAtReduce?: number;
}

export type RankOutcome = { ok: true; weights: Record<string, Float32Array>; imagesSeen: number; checkpoint: string | null } | { ok: false; message: string };

/** A communicator whose n-th gradient all-reduce fails, as a crashing rank's would. */
function failingAt(inner: ThreadCommunicator, n: number): Communicator {
  let calls = 0;
  return {
    rank: inner.rank,
    size: inner.size,
    description: inner.description,
    startAllReduceSum: (tensors) => {
      if (++calls === n) throw new Error(`simulated failure at all-reduce ${n}`);
      return inner.startAllReduceSum(tensors);
    },
    allReduceHostSum: (values) => inner.allReduceHostSum(values),
    abort: (reason) => inner.abort(reason),
    close: () => inner.close(),
  };
}

async function main(job: RankJob): Promise<RankOutcome> {
  setCpuThreadCount(1);
  T.setBackend(cpuBackend());
  const inner = new ThreadCommunicator(job.group, job.rank);
  const communicator = job.failAtReduce ? failingAt(inner, job.failAtReduce) : inner;
  try {
    const trainer = await Trainer.create(job.config, { resume: job.resume, communicator });
    const result = await trainer.run({ stopAtImages: job.stopAtImages });
    const weights = Object.fromEntries([...trainer.model.net.stateDict()].map(([k, t]) => [k, t.toFloat32Array()]));
    return { ok: true, weights, imagesSeen: result.imagesSeen, checkpoint: result.checkpoint };
  } catch (e) {
    // A failure before training starts must end the group too, or the other ranks wait for this one.
    inner.abort(`rank ${job.rank}: ${(e as Error).message}`);
    return { ok: false, message: (e as Error).message };
  } finally {
    inner.close();
  }
}

void main(workerData as RankJob).then((outcome) => parentPort!.postMessage(outcome));
