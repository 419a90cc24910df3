/**
 * Throughput of the FID Inception-v3 (src/eval/inception.ts): images per second through resize to 299,
 * the network and the pool3 features, on the CPU or the GPU (fp32 or TF32 math). Weights from --weights
 * (a converted pt_inception file, docs/evaluation.md) or all zero: the work is the same dense arithmetic
 * whatever the values. The first batch (NVRTC compiles, cuDNN's algorithm search) is timed apart.
 *
 * Usage (after `npx tsc -p .`):
 *   node dist/bench/inception-features.js [--device cpu|cuda] [--math fp32|tf32] [--batch 50] [--batches 4]
 *     [--size 32] [--weights PATH]
 */
import { parseArgs } from 'node:util';
import * as T from '../src/tensor/index.js';
import { cpuBackend } from '../src/backend/cpu/index.js';
import { FidInceptionV3, loadFidInception } from '../src/eval/inception.js';

const { values: args } = parseArgs({
  options: {
    device: { type: 'string', default: 'cpu' },
    math: { type: 'string', default: 'fp32' },
    batch: { type: 'string', default: '50' },
    batches: { type: 'string', default: '4' },
    size: { type: 'string', default: '32' },
    weights: { type: 'string' },
  },
});

function positiveInteger(flag: string, value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag} must be a positive integer, got "${value}"`);
  return n;
}

const batch = positiveInteger('batch', args.batch);
const batches = positiveInteger('batches', args.batches);
const size = positiveInteger('size', args.size);

if (args.device === 'cuda') {
  if (args.math !== 'fp32' && args.math !== 'tf32') throw new Error(`--math must be fp32 or tf32, got ${args.math}`);
  const { cudaBackend } = await import('../src/backend/cuda/index.js');
  T.setBackend(cudaBackend({ math: args.math }));
} else if (args.device === 'cpu') T.setBackend(cpuBackend());
else throw new Error(`--device must be cpu or cuda, got ${args.device}`);

const net = args.weights ? loadFidInception(args.weights) : new FidInceptionV3();
const images = T.keep(new T.Generator(0).uniform([batch, 3, size, size]));

/** Seconds to compute the features of one batch, waiting for the device. */
function timeBatch(): number {
  const start = performance.now();
  T.tidy(() => {
    net.features(images);
    T.getBackend().synchronize();
  });
  return (performance.now() - start) / 1000;
}

const first = timeBatch();
let total = 0;
for (let i = 0; i < batches; i++) total += timeBatch();
const label = args.device === 'cuda' ? `cuda ${args.math}` : 'cpu';
console.log(`FID Inception-v3 features, ${label}, batches of ${batch} ${size}x${size} images: first batch ${first.toFixed(2)} s; then ${((batch * batches) / total).toFixed(1)} images/s (${batches} batches, ${(total / batches).toFixed(3)} s each)`);
