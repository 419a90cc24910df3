/**
 * Time of the float64 statistics at Inception's feature size: accumulating the covariance of feature
 * batches (images/s of the statistics alone) and one Frechet distance between two 2048-d Gaussians
 * (two symmetric eigendecompositions and two matrix products, all in JavaScript float64).
 *
 * Wall and CPU seconds both: on a shared machine the CPU time is the figure that carries over.
 *
 * Usage (after `npx tsc -p .`): node dist/bench/frechet-2048.js [--dim 2048] [--rows 4000] [--batch 500]
 */
import { parseArgs } from 'node:util';
import { FeatureAccumulator, frechetDistance } from '../src/eval/frechet.js';
import { symmetricEigen } from '../src/eval/symmetric-eigen.js';

const { values: args } = parseArgs({
  options: { dim: { type: 'string', default: '2048' }, rows: { type: 'string', default: '4000' }, batch: { type: 'string', default: '500' } },
});
const dim = Number(args.dim);
const rows = Number(args.rows);
const batch = Number(args.batch);

/** Features like Inception's pool3: non-negative, correlated through a few shared factors. */
function features(seed: number, count: number): Float32Array {
  let s = seed >>> 0;
  const uniform = (): number => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0), s / 2 ** 32);
  const out = new Float32Array(count * dim);
  for (let r = 0; r < count; r++) {
    const factors = [uniform(), uniform(), uniform()];
    for (let j = 0; j < dim; j++) out[r * dim + j] = Math.max(0, factors[j % 3] * 0.5 + uniform() * 0.3 - 0.1);
  }
  return out;
}

/** Runs fn; returns its result with the wall and CPU (user + system, this thread's process) seconds. */
function timed<T>(fn: () => T): { result: T; wall: number; cpu: number } {
  const wall0 = performance.now();
  const cpu0 = process.cpuUsage();
  const result = fn();
  const cpu = process.cpuUsage(cpu0);
  return { result, wall: (performance.now() - wall0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
}

const seconds = (t: { wall: number; cpu: number }): string => `${t.wall.toFixed(2)} s wall, ${t.cpu.toFixed(2)} s CPU`;

function statistics(seed: number) {
  const acc = new FeatureAccumulator(dim);
  const total = { wall: 0, cpu: 0 };
  for (let done = 0; done < rows; done += batch) {
    const x = features(seed + done, batch);
    const t = timed(() => acc.add(x, batch));
    total.wall += t.wall;
    total.cpu += t.cpu;
  }
  console.log(`accumulate ${rows} x ${dim} in batches of ${batch}: ${seconds(total)} (${(rows / total.cpu).toFixed(0)} feature vectors per CPU second)`);
  return acc.statistics();
}

const a = statistics(1);
const b = statistics(2);
console.log(`eigensystem (values and vectors) at ${dim}: ${seconds(timed(() => symmetricEigen(a.sigma, dim, { vectors: true })))}`);
console.log(`eigenvalues only at ${dim}: ${seconds(timed(() => symmetricEigen(b.sigma, dim)))}`);
const fd = timed(() => frechetDistance(a, b));
console.log(`Frechet distance at ${dim}: ${fd.result.toPrecision(8)} in ${seconds(fd)}`);
