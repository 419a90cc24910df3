/**
 * One rank of gradient-buckets.test.ts in a worker thread: a few parameters, two micro-batches whose
 * losses are linear in them (so each gradient is a known integer array, summed exactly in float32), the
 * buckets fed by the tape as training feeds them, or at the wrong time.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as T from '../../src/tensor/index.js';
import { cpuBackend, setCpuThreadCount } from '../../src/backend/cpu/index.js';
import { type ThreadGroup, ThreadCommunicator } from '../../src/distributed/thread-communicator.js';
import type { Communicator } from '../../src/distributed/communicator.js';
import { GradientBuckets } from '../../src/distributed/gradient-buckets.js';
import { SIZES, coefficients, used } from './bucket-case.js';

export interface BucketJob {
  group: ThreadGroup;
  rank: number;
  /** Which backward pass reports final gradients: the last (right) or the first (a bucket started too early). */
  reportIn: 'last' | 'first';
  bucketBytes: number;
}

export type BucketOutcome =
  | { ok: true; grads: number[][]; reached: boolean[]; buckets: number; startedInBackward: number; ownBeforeWait: boolean }
  | { ok: false; message: string };

function main(job: BucketJob): BucketOutcome {
  setCpuThreadCount(1);
  T.setBackend(cpuBackend());
  const inner = new ThreadCommunicator(job.group, job.rank);
  let inBackward = false;
  let startedInBackward = 0;
  let ownBeforeWait = true;
  const communicator: Communicator = {
    rank: inner.rank,
    size: inner.size,
    description: inner.description,
    startAllReduceSum: (tensors) => {
      if (inBackward) startedInBackward++;
      const own = tensors.map((t) => t.toFloat32Array().slice());
      const pending = inner.startAllReduceSum(tensors);
      // Until wait(), a rank reads its own values: the sum is not there yet.
      ownBeforeWait &&= tensors.every((t, i) => t.toFloat32Array().every((v, j) => v === own[i][j]));
      return pending;
    },
    allReduceHostSum: (values) => inner.allReduceHostSum(values),
    abort: (reason) => inner.abort(reason),
    close: () => inner.close(),
  };
  const params = SIZES.map((n) => {
    const p = T.keep(T.zeros([n]));
    p.requiresGrad = true;
    return p;
  });
  const buckets = new GradientBuckets(communicator, params, job.bucketBytes);
  try {
    for (const m of [0, 1]) {
      const reports = (job.reportIn === 'last') === (m === 1);
      T.tidy(() => {
        const terms = used(job.rank).map((i) => T.sum(T.mul(params[i], T.fromArray(coefficients(job.rank, m, i), [SIZES[i]]))));
        const loss = terms.reduce((a, b) => T.add(a, b));
        inBackward = true;
        T.backward(loss, undefined, reports ? { begins: (leaves) => buckets.lastPassBegins(leaves), gradientFinal: (leaf) => buckets.gradientFinal(leaf) } : undefined);
        inBackward = false;
      });
    }
    const reached = buckets.finish();
    return { ok: true, grads: params.map((p) => [...p.grad!.toFloat32Array()]), reached, buckets: buckets.buckets.length, startedInBackward, ownBeforeWait };
  } catch (e) {
    inner.abort(`rank ${job.rank}: ${(e as Error).message}`);
    return { ok: false, message: (e as Error).message };
  } finally {
    inner.close();
  }
}

parentPort!.postMessage(main(workerData as BucketJob));
