/**
 * The quickstart on the CPU, beside PyTorch on the same cores: training images/s of the quickstart network
 * (the `quickstart` preset's multistage U-Net, 224k parameters, 16x16, batch 16, EDM loss + Adam).
 *
 * 1. `step s0|s1|s2`: the step ../shared/bench/cpu_anchor.py times in PyTorch (random data at one sigma per
 *    stage, forward, backward, Adam), and the same three weighted to the preset's balanced mix
 *    (0.5 / 0.35 / 0.15, time-weighted as the anchor does); for the mix also the CPU time per image, all
 *    threads together, which other jobs on a shared machine disturb far less than the wall clock.
 * 2. `trainer`: the quickstart's own training loop (data, balanced per-sample stage routing, EMA), as
 *    `npm start` runs it, timed between its steps (the final grid and checkpoint are not counted).
 * 3. `anchor`: cpu_anchor.py run by the system python (/usr/bin/python3 with Debian's python3-torch) with
 *    the same thread count, when it and the official edm/ folder (--anchor-edm or ANCHOR_EDM) are there.
 * 4. With --profile: where the time of one step of the training loop goes, by backend call (wall time on
 *    the calling thread, all threads' work inside it; and CPU time of all threads), the rest being the
 *    tensor layer (tape, dispatch, shape checks), the data and the loop; the time split over the threads,
 *    and on one thread only.
 *
 * Usage (after `npx tsc -p .`):
 *   node dist/bench/cpu-quickstart.js [--threads 2] [--iters 40] [--trainer-images 2400] [--profile]
 *     [--anchor ../shared/bench/cpu_anchor.py] [--anchor-edm /path/to/official/edm] [--no-anchor]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as T from '../src/tensor/index.js';
import type { Backend } from '../src/backend/backend.js';
import { cpuBackend, cpuPoolStats, setCpuThreadCount } from '../src/backend/cpu/index.js';
import { Adam } from '../src/optim/adam.js';
import { Trainer, buildDiffusionModel, partitionFromConfig, presetConfig, resolveTrainConfig } from '../src/train/index.js';

const { values: args } = parseArgs({
  options: {
    threads: { type: 'string', default: String(availableParallelism()) },
    iters: { type: 'string', default: '40' },
    'trainer-images': { type: 'string', default: '2400' },
    profile: { type: 'boolean', default: false },
    anchor: { type: 'string', default: '../shared/bench/cpu_anchor.py' },
    'anchor-edm': { type: 'string', default: process.env.ANCHOR_EDM ?? '' },
    'no-anchor': { type: 'boolean', default: false },
  },
});

const threads = Number(args.threads);
const iters = Number(args.iters);
const trainerImages = Number(args['trainer-images']);
if (!Number.isInteger(threads) || threads < 1) throw new Error(`--threads must be a positive integer, got ${args.threads}`);
if (!Number.isInteger(iters) || iters < 1) throw new Error(`--iters must be a positive integer, got ${args.iters}`);
if (!Number.isInteger(trainerImages) || trainerImages < 0) throw new Error(`--trainer-images must be a non-negative integer, got ${args['trainer-images']}`);

const BATCH = 16;
const STAGES = [
  { name: 's0', sigma: 0.5, share: 0.5 },
  { name: 's1', sigma: 5, share: 0.35 },
  { name: 's2', sigma: 20, share: 0.15 },
];
const WARMUP_STEPS = 5;

/**
 * Per backend call: wall milliseconds on the calling thread, of them on that thread alone (not split), CPU
 * milliseconds of all threads (which other jobs on the machine disturb far less), and calls, while
 * `profiling` is set.
 */
const profile = new Map<string, { ms: number; aloneMs: number; cpuMs: number; calls: number }>();
let profiling = false;

/** The CPU backend with every call timed (by op for elementwise calls) while `profiling` is set. */
function profiledBackend(inner: Backend): Backend {
  const wrapped: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(inner)) {
    if (typeof value !== 'function') {
      wrapped[key] = value;
      continue;
    }
    const fn = value as (...a: unknown[]) => unknown;
    wrapped[key] = (...a: unknown[]) => {
      if (!profiling) return fn(...a);
      const label = key === 'unary' || key === 'unaryBackward' || key === 'binary' ? `${key} ${String(a[0])}` : key;
      const split = cpuPoolStats().parallelMs;
      const cpu = process.cpuUsage();
      const t = performance.now();
      const result = fn(...a);
      const ms = performance.now() - t;
      const { user, system } = process.cpuUsage(cpu);
      const entry = profile.get(label) ?? { ms: 0, aloneMs: 0, cpuMs: 0, calls: 0 };
      entry.ms += ms;
      entry.aloneMs += ms - (cpuPoolStats().parallelMs - split);
      entry.cpuMs += (user + system) / 1000;
      entry.calls++;
      profile.set(label, entry);
      return result;
    };
  }
  return wrapped as unknown as Backend;
}

const quickstart = resolveTrainConfig(presetConfig('quickstart'));

/** The quickstart network and a step of cpu_anchor.py's kind on it. */
function anchorStep(): (sigma: number) => void {
  const gen = new T.Generator(0);
  const spec = { model: quickstart.model, formulation: quickstart.formulation, imageShape: [3, quickstart.data.resolution, quickstart.data.resolution] };
  const model = buildDiffusionModel(spec, partitionFromConfig(quickstart.model, quickstart.formulation), gen);
  const a = quickstart.training.adam;
  const optimizer = new Adam(model.net.namedParameters(), { lr: 1e-4, betas: [a.beta1, a.beta2], eps: a.eps });
  model.net.train(true);
  const shape = [BATCH, ...spec.imageShape];
  return (sigma) =>
    T.tidy(() => {
      const x0 = T.mulScalar(gen.normal(shape), 0.5);
      const loss = model.loss(x0, new Float64Array(BATCH).fill(sigma), gen.normal(shape), gen);
      T.backward(T.mulScalar(T.sum(loss), 1 / BATCH));
      optimizer.step();
      optimizer.zeroGrad();
    });
}

/** Wall seconds per image, and CPU milliseconds per image of all the process's threads (a measure that other jobs on the machine disturb far less). */
function timeSteps(step: (sigma: number) => void, sigma: number, n: number): { seconds: number; cpuMs: number } {
  const t = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) step(sigma);
  const { user, system } = process.cpuUsage(cpu);
  return { seconds: (performance.now() - t) / 1000 / (n * BATCH), cpuMs: (user + system) / 1000 / (n * BATCH) };
}

/** Runs `steps` steps of the quickstart's training loop in a scratch folder, calling `onStep` after each (1, 2, ...). */
async function runTrainer(steps: number, onStep: (step: number) => void): Promise<void> {
  const runDir = mkdtempSync(join(tmpdir(), 'stagediff-bench-'));
  try {
    const trainer = await Trainer.create({ ...presetConfig('quickstart'), runDir });
    await trainer.run({ stopAtImages: steps * BATCH, events: { onStep: ({ images }) => onStep(images / BATCH) } });
  } finally {
    rmSync(runDir, { recursive: true, force: true });
  }
}

/** Images/s of the quickstart's training loop, from its first step after a warm-up to its last. */
async function trainerImagesPerSecond(): Promise<number> {
  let start = 0;
  let last = 0;
  await runTrainer(WARMUP_STEPS + Math.ceil(trainerImages / BATCH), (step) => {
    if (step === WARMUP_STEPS) start = performance.now();
    last = performance.now();
  });
  return (Math.ceil(trainerImages / BATCH) * BATCH) / ((last - start) / 1000);
}

/** cpu_anchor.py's JSON line, or why it did not run. */
function runAnchor(): Record<string, unknown> | string {
  if (args['no-anchor']) return 'skipped (--no-anchor)';
  if (!existsSync(args.anchor!)) return `skipped: no ${args.anchor} (--anchor)`;
  const edm = args['anchor-edm']!;
  if (edm === '' || !existsSync(join(edm, 'training', 'networks.py'))) return 'skipped: the official edm/ folder is needed (--anchor-edm or ANCHOR_EDM)';
  const run = spawnSync('/usr/bin/python3', [args.anchor!, String(threads)], { env: { ...process.env, ANCHOR_EDM: edm }, encoding: 'utf8' });
  if (run.status !== 0) return `failed: ${(run.stderr || run.error?.message || '').trim().split('\n').at(-1)}`;
  return JSON.parse(run.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
}

async function main(): Promise<void> {
  setCpuThreadCount(threads);
  T.setBackend(cpuBackend());
  const step = anchorStep();
  const secondsPerImage: Record<string, number> = {};
  const cpuMsPerImage: Record<string, number> = {};
  const ours: Record<string, number> = {};
  for (const s of STAGES) {
    for (let i = 0; i < WARMUP_STEPS; i++) step(s.sigma);
    const { seconds, cpuMs } = timeSteps(step, s.sigma, iters);
    secondsPerImage[s.name] = seconds;
    cpuMsPerImage[s.name] = cpuMs;
    ours[`train_img_s_${s.name}`] = Math.round(10 / seconds) / 10;
  }
  ours.train_img_s_balanced_mix = Math.round(10 / STAGES.reduce((sum, s) => sum + s.share * secondsPerImage[s.name], 0)) / 10;
  ours.cpu_ms_per_image_balanced_mix = Math.round(100 * STAGES.reduce((sum, s) => sum + s.share * cpuMsPerImage[s.name], 0)) / 100;
  if (trainerImages > 0) ours.trainer_img_s = Math.round(10 * (await trainerImagesPerSecond())) / 10;
  console.log(JSON.stringify({ side: 'stagediff', threads, node: process.version, ...ours }));
  const anchor = runAnchor();
  console.log(JSON.stringify({ side: 'pytorch', ...(typeof anchor === 'string' ? { status: anchor } : anchor) }));
  if (typeof anchor !== 'string') {
    const ratio = (k: string) => Math.round((100 * (ours[k] ?? NaN)) / Number(anchor[k])) / 100;
    console.log(JSON.stringify({ side: 'stagediff / pytorch', ...Object.fromEntries(['s0', 's1', 's2', 'balanced_mix'].map((k) => [k, ratio(`train_img_s_${k}`)])) }));
  }

  if (args.profile) await printProfile();
}

/** Where the time of the trainer's steps goes, per step. */
async function printProfile(): Promise<void> {
  const steps = Math.max(10, Math.round(trainerImages / BATCH / 2));
  T.setBackend(profiledBackend(cpuBackend()));
  let wallMs = 0;
  let cpuMs = 0;
  let cpu = process.cpuUsage();
  let pool = cpuPoolStats();
  let after = pool;
  await runTrainer(WARMUP_STEPS + steps, (step) => {
    if (step === WARMUP_STEPS) {
      profile.clear();
      pool = cpuPoolStats();
      cpu = process.cpuUsage();
      wallMs = performance.now();
      profiling = true;
    }
    // The run's final grid and checkpoint are not part of a step.
    if (step === WARMUP_STEPS + steps) {
      profiling = false;
      wallMs = (performance.now() - wallMs) / steps;
      const { user, system } = process.cpuUsage(cpu);
      cpuMs = (user + system) / 1000 / steps;
      after = cpuPoolStats();
    }
  });
  const waitMs = (after.waitMs - pool.waitMs) / steps;
  const parallelMs = (after.parallelMs - pool.parallelMs) / steps;
  const rows = [...profile].map(([k, v]) => ({ k, ms: v.ms / steps, aloneMs: v.aloneMs / steps, cpuMs: v.cpuMs / steps, calls: v.calls / steps })).sort((a, b) => b.ms - a.ms);
  const inBackend = rows.reduce((s, r) => s + r.ms, 0);
  const cpuInBackend = rows.reduce((s, r) => s + r.cpuMs, 0);
  const line = (label: string, ms: number, calls = '') => console.log(`  ${label.padEnd(38)} ${ms.toFixed(3).padStart(8)} ms ${((100 * ms) / wallMs).toFixed(1).padStart(5)}%  ${calls}`);
  console.log(`\nOne step of the quickstart's training loop, ${threads} threads: ${wallMs.toFixed(2)} ms (${(1000 * BATCH / wallMs).toFixed(1)} images/s with the timers on), CPU time of all threads ${cpuMs.toFixed(2)} ms`);
  line('backend calls', inBackend, `CPU ${cpuInBackend.toFixed(2)} ms`);
  line('the rest: tensor layer (tape, dispatch), data, JS', wallMs - inBackend, `CPU ${(cpuMs - cpuInBackend).toFixed(2)} ms`);
  line('split over the threads', parallelMs);
  line('  of it, caller waiting for the workers', waitMs);
  line('on one thread only (the others idle)', wallMs - parallelMs);
  console.log('  by backend call:');
  for (const r of rows) line(`  ${r.k}`, r.ms, `${r.calls.toFixed(1).padStart(7)} calls, ${r.aloneMs.toFixed(2).padStart(7)} ms of it on one thread, CPU ${r.cpuMs.toFixed(2).padStart(7)} ms`);
}

await main();
