/**
 * The clustering report of docs/clustering.md: timestep clustering by the optimal denoiser of the CIFAR-10
 * training set on the VP schedule (beta 0.1 -> 20, t in [1e-3, 1]), pixels in [0, 1], eta = 2/255, as the
 * official code. One denoiser serves every analysis:
 * - Algorithm 1: one set of (x0, eps, t) samples, boundaries t1, t2 read at several alpha;
 * - the grid: similarity of every pair of grid times in x0 and epsilon space, cut into K = 2..5 stages under
 *   both weightings of the mean within-stage similarity;
 * - the data-free baselines (uniform, snr).
 * Writes docs/clustering-cifar10.json and the plots docs/clustering-*.png, prints markdown tables, and the
 * time of each phase (this is a benchmark of the denoiser as much as a report).
 *
 * Usage (after `npx tsc -p . --outDir .build/stages`):
 *   node .build/stages/bench/cluster-cifar10.js [--data /work/shared/data/cifar10] [--subset 50000]
 *     [--a1-samples 500] [--grid 40] [--grid-samples 24] [--alphas 0.8,0.85,0.9,0.95,0.98] [--plot-alpha 0.9]
 *     [--seed 0] [--device cpu|cuda] [--out docs]
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as T from '../src/tensor/index.js';
import { cpuBackend } from '../src/backend/cpu/index.js';
import { loadCifar10 } from '../src/data/index.js';
import { LinearVPSchedule, noiseLevelAt } from '../src/diffusion/index.js';
import {
  type Algorithm1Curves, DEFAULT_ETA, STAGE_WEIGHTINGS, OptimalDenoiser, algorithm1Boundaries, algorithm1Curves,
  clusterStages, curvesFromSamples, drawNoisingPairs, gridSimilarity, imageVectors, partitionBySimilarity, timeGrid,
} from '../src/stages/index.js';
import { algorithm1Plot, similarityPlot } from '../src/plots/index.js';

const { values: args } = parseArgs({
  options: {
    data: { type: 'string', default: '/work/shared/data/cifar10' },
    subset: { type: 'string', default: '50000' },
    'a1-samples': { type: 'string', default: '500' },
    grid: { type: 'string', default: '40' },
    'grid-samples': { type: 'string', default: '24' },
    alphas: { type: 'string', default: '0.8,0.85,0.9,0.95,0.98' },
    'plot-alpha': { type: 'string', default: '0.9' },
    seed: { type: 'string', default: '0' },
    device: { type: 'string', default: 'cpu' },
    out: { type: 'string', default: 'docs' },
  },
});
const PAPER = [0.442, 0.631];
const T_MIN = 1e-3;
const eta = DEFAULT_ETA;
const subset = Number(args.subset);
const a1Samples = Number(args['a1-samples']);
const gridSize = Number(args.grid);
const gridSamples = Number(args['grid-samples']);
const alphas = args.alphas.split(',').map(Number);
const plotAlpha = Number(args['plot-alpha']);
const seed = Number(args.seed);

async function selectBackend(device: string): Promise<void> {
  if (device === 'cpu') return T.setBackend(cpuBackend());
  if (device !== 'cuda') throw new Error(`--device must be cpu or cuda, got ${device}`);
  // True fp32 products: TF32 would round the scores x.y by about 1e-3 and with them the softmax weights.
  const { cudaBackend } = await import('../src/backend/cuda/index.js');
  T.setBackend(cudaBackend({ math: 'fp32' }));
}

const schedule = new LinearVPSchedule();
const levelAt = noiseLevelAt(schedule);

interface Seconds {
  wall: number;
  /** CPU time of this process (user + system): what the work costs on a core of its own, on a shared machine. */
  cpu: number;
}

/** Runs fn, logging and returning its wall and CPU time. */
function timed<R>(what: string, fn: () => R): [R, Seconds] {
  const start = performance.now();
  const cpuStart = process.cpuUsage();
  const result = fn();
  const cpu = process.cpuUsage(cpuStart);
  const seconds = { wall: (performance.now() - start) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
  console.error(`${what}: ${seconds.wall.toFixed(1)} s wall, ${seconds.cpu.toFixed(1)} s CPU`);
  return [result, seconds];
}

function progress(what: string): (done: number, total: number) => void {
  let last = 0;
  return (done, total) => {
    if (done === total || performance.now() - last > 10000) {
      last = performance.now();
      console.error(`  ${what}: ${done}/${total}`);
    }
  };
}

/**
 * 90% bootstrap intervals of t1 and t2 at alpha: the samples resampled with replacement `rounds` times. They
 * measure the spread due to the finite number of samples, not any bias of the method.
 */
function bootstrap(curves: Algorithm1Curves, alpha: number, rounds: number, generator: T.Generator): { t1: [number, number]; t2: [number, number] } {
  const samples = curves.t.map((t, k) => ({ t, s0: curves.s0[k], s1: curves.s1[k] }));
  const t1: number[] = [];
  const t2: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const picks = generator.uniformHost(samples.length);
    const b = algorithm1Boundaries(curvesFromSamples([...picks].map((u) => samples[Math.min(Math.floor(u * samples.length), samples.length - 1)])), alpha);
    if (b.t1 !== null) t1.push(b.t1);
    if (b.t2 !== null) t2.push(b.t2);
  }
  const interval = (v: number[]): [number, number] => {
    v.sort((a, b) => a - b);
    return [v[Math.floor(0.05 * (v.length - 1))], v[Math.ceil(0.95 * (v.length - 1))]];
  };
  return { t1: interval(t1), t2: interval(t2) };
}

const fmt = (t: number | null): string => (t === null ? '-' : t.toFixed(3));
const sigmaText = (t: number | null): string => (t === null ? '-' : schedule.sigma(t).toFixed(2));

async function main(): Promise<void> {
  await selectBackend(args.device);
  const images = await loadCifar10(args.data);
  const dataset = imageVectors(images, Math.min(subset, images.length));
  const generator = new T.Generator(seed);
  const [denoiser, buildSeconds] = timed(`upload ${dataset.count} images`, () => new OptimalDenoiser(dataset));

  const a1Pairs = drawNoisingPairs(dataset, a1Samples, generator);
  const a1Levels = [...generator.uniformHost(a1Samples)].map((u) => levelAt(T_MIN + (1 - T_MIN) * u));
  const [curves, a1Seconds] = timed(`Algorithm 1, ${a1Samples} samples`, () => algorithm1Curves(denoiser, a1Pairs, a1Levels, eta, progress('Algorithm 1')));
  // Resampling draws from a stream of its own, so that the grid's samples do not depend on it.
  const resampling = new T.Generator(seed + 1);
  const sweep = alphas.map((alpha) => ({ alpha, ...algorithm1Boundaries(curves, alpha), bootstrap90: bootstrap(curves, alpha, 1000, resampling) }));

  const grid = [...timeGrid(gridSize, T_MIN, 1)].map(levelAt);
  const gridPairs = drawNoisingPairs(dataset, gridSamples, generator);
  const [similarity, gridSeconds] = timed(`grid ${gridSize} x ${gridSamples} samples`, () => gridSimilarity(denoiser, gridPairs, grid, eta, progress('grid')));
  denoiser.dispose();
  const midpoint = (s: number): number => (similarity.t[s - 1] + similarity.t[s]) / 2;
  const partitions = (['x0', 'epsilon'] as const).flatMap((space) =>
    STAGE_WEIGHTINGS.flatMap((weighting) =>
      [2, 3, 4, 5].map((stages) => {
        const { starts, meanWithinStage } = partitionBySimilarity(similarity[space], stages, weighting);
        return { space, weighting, stages, boundaries: starts.map(midpoint), meanWithinStage };
      }),
    ),
  );
  const baselines = (['uniform', 'snr'] as const).map((method) => ({ method, boundaries: clusterStages({ method, stages: 3, levelAt }).boundaries.map((b) => b.t) }));

  mkdirSync(args.out, { recursive: true });
  const plotA1 = algorithm1Boundaries(curves, plotAlpha);
  writeFileSync(join(args.out, 'clustering-algorithm1.png'), algorithm1Plot(curves, plotAlpha, [plotA1.t1, plotA1.t2].filter((t): t is number => t !== null), PAPER));
  for (const space of ['x0', 'epsilon'] as const) {
    const three = partitions.find((p) => p.space === space && p.weighting === 'per-point' && p.stages === 3)!;
    writeFileSync(join(args.out, `clustering-grid-${space}.png`), similarityPlot(similarity[space], similarity.t, three.boundaries, PAPER));
  }
  const settings = { images: dataset.count, device: args.device, eta, tMin: T_MIN, a1Samples, gridSize, gridSamples, seed };
  const seconds = { upload: buildSeconds, algorithm1: a1Seconds, grid: gridSeconds };
  writeFileSync(join(args.out, 'clustering-cifar10.json'), JSON.stringify({ settings, seconds, sweep, partitions, baselines, algorithm1: curves, similarity }, null, 1));

  console.log(`CIFAR-10 train, ${dataset.count} images, VP, eta = 2/255, ${args.device}`);
  const time = (s: Seconds): string => `${s.wall.toFixed(1)} s wall / ${s.cpu.toFixed(1)} s CPU`;
  console.log(`time: upload ${time(buildSeconds)}; Algorithm 1 ${time(a1Seconds)} (${a1Samples} queries); grid ${time(gridSeconds)} (${gridSize * gridSamples} queries)\n`);
  const range = ([lo, hi]: [number, number]): string => `${fmt(lo)}-${fmt(hi)}`;
  console.log('| alpha | t1 | t2 | sigma(t1) | sigma(t2) | t1, 90% bootstrap | t2, 90% bootstrap |\n|---|---|---|---|---|---|---|');
  for (const s of sweep) {
    console.log(`| ${s.alpha} | ${fmt(s.t1)} | ${fmt(s.t2)} | ${sigmaText(s.t1)} | ${sigmaText(s.t2)} | ${range(s.bootstrap90.t1)} | ${range(s.bootstrap90.t2)} |`);
  }
  console.log('\n| space | weighting | K | boundaries t | sigma | mean within-stage similarity |\n|---|---|---|---|---|---|');
  for (const p of partitions) console.log(`| ${p.space} | ${p.weighting} | ${p.stages} | ${p.boundaries.map(fmt).join(', ')} | ${p.boundaries.map(sigmaText).join(', ')} | ${p.meanWithinStage.toFixed(3)} |`);
  console.log('\n| baseline | boundaries t |\n|---|---|');
  for (const b of baselines) console.log(`| ${b.method} | ${b.boundaries.map(fmt).join(', ')} |`);
}

await main();
