/**
 * Runs the ranks of a thread group (the NCCL test double), each in its own worker thread running
 * `worker` with its job as workerData; resolves with each rank's posted outcome, in rank order.
 */
import { Worker } from 'node:worker_threads';
import { type ThreadGroup, threadGroup } from '../../src/distributed/thread-communicator.js';

export function runThreadRanks<Job, Outcome>(worker: URL, size: number, job: (group: ThreadGroup, rank: number) => Job): Promise<Outcome[]> {
  const group = threadGroup(size, 4096);
  return Promise.all(
    Array.from(
      { length: size },
      (_, rank) =>
        new Promise<Outcome>((resolve, reject) => {
          const w = new Worker(worker, { workerData: job(group, rank) });
          w.once('message', (m: Outcome) => resolve(m));
          w.once('error', reject);
        }),
    ),
  );
}
