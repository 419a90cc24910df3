/**
 * Time of the float64 statistics at Inception's feature size: accumulating the covariance of feature
 * batches (images/s of the statistics alone) and one Frechet distance between two 2048-d Gaussians
 * (two symmetric eigendecompositions and two matrix products, all in JavaScript float64).
 *
 * Usage (after `npx tsc -p .`): node dist/bench/frechet-2048.js [--dim 2048] [--rows 4000] [--batch 500]
 */
import { parseArgs } from 'node:util';
import { FeatureAccumulator, frechetDistance } from '../src/eval/frechet.js';

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

function statistics(seed: number) {
  const acc = new FeatureAccumulator(dim);
  let seconds = 0;
  for (let done = 0; done < rows; done += batch) {
    const x = features(seed + done, batch);
    const t0 = performance.now();
    acc.add(x, batch);
    seconds += (performance.now() - t0) / 1000;
  }
  console.log(`accumulate ${rows} x ${dim} in batches of ${batch}: ${seconds.toFixed(2)} s (${(rows / seconds).toFixed(0)} feature vectors/s)`);
  return acc.statistics();
}

const a = statistics(1);
const b = statistics(2);
const t0 = performance.now();
const fd = frechetDistance(a, b);
console.log(`Frechet distance at dim ${dim}: ${fd.toPrecision(8)} in ${((performance.now() - t0) / 1000).toFixed(2)} s`);
