/**
 * Where the GPU time of one training step goes: runs `stagediff bench`'s EDM training step with every
 * backend call timed by CUDA events (each call synchronises, so this measures GPU time per kernel kind, not
 * throughput) and prints the total per step by kernel, largest first.
 *
 * Usage (GPU machine, after building): node dist/bench/profile-step.js [--arch ddpmpp|multistage]
 *   [--precision fp32|tf32|bf16] [--batch 512] [--sigma 0.5] [--steps 3] [--decoders 128,128,16]
 *   [--stage-mix 0.9,0.07,0.03] [--channels-last]
 * --channels-last runs the network's activations NHWC (training.channelsLast); --stage-mix profiles the step on a batch mixing the stages as `balanced` stage sampling draws it (sorted
 * by stage, the counts by the shares) instead of one at --sigma; --decoders sets the decoders' widths.
 */
import { parseArgs } from 'node:util';
import * as T from '../src/tensor/index.js';
import type { Backend } from '../src/backend/backend.js';
import type { CudaBackend } from '../src/backend/cuda/index.js';
import { benchTraining, decoderWidths, stageMix } from '../src/cli/commands/bench.js';
import { StageSampler } from '../src/train/stage-sampling.js';
import { isPrecision, useDevice } from '../src/runtime/device.js';

const { values: args } = parseArgs({
  options: {
    arch: { type: 'string', default: 'ddpmpp' },
    precision: { type: 'string', default: 'bf16' },
    batch: { type: 'string', default: '512' },
    sigma: { type: 'string', default: '0.5' },
    steps: { type: 'string', default: '3' },
    decoders: { type: 'string' },
    'stage-mix': { type: 'string' },
    'channels-last': { type: 'boolean', default: false },
  },
});

/**
 * Kernel kinds worth telling apart: the op of unary and binary calls, the dtype of the first buffer, and
 * the layout of the layout-dependent ops (the last argument's channelsLast).
 */
function label(name: string, callArgs: unknown[]): string {
  const dtype = (b: unknown) => (b && typeof b === 'object' && 'dtype' in b ? (b as { dtype: string }).dtype : '');
  if (name === 'unary' || name === 'unaryBackward') return `${name} ${callArgs[0]} ${dtype(callArgs[1])}`;
  if (name === 'binary') return `binary ${callArgs[0]} ${dtype((callArgs[1] as { buf: unknown }).buf)}/${dtype((callArgs[2] as { buf: unknown }).buf)}->${dtype(callArgs[3])}`;
  if (name === 'cast') return `cast ${callArgs[1]}->${callArgs[3]}`;
  const params = callArgs[callArgs.length - 1] as { silu?: boolean; channelsLast?: boolean } | null;
  const layout = params && typeof params === 'object' && params.channelsLast ? ' nhwc' : '';
  if (name === 'groupNorm' || name === 'groupNormBackward') return `${name}${params!.silu ? '+silu' : ''} ${dtype(callArgs[0])}${layout}`;
  return `${name} ${dtype(callArgs[0])}${layout}`;
}

async function main(): Promise<void> {
  const precision = args.precision!;
  if (!isPrecision(precision)) throw new Error(`--precision: fp32, tf32 or bf16, got ${precision}`);
  await useDevice('cuda', precision);
  const cuda = T.getBackend() as CudaBackend;
  const totals = new Map<string, { ms: number; calls: number }>();
  let timing = false;
  const timed: Record<string, unknown> = {};
  for (const key of Object.keys(cuda)) {
    const value = (cuda as unknown as Record<string, unknown>)[key];
    if (typeof value !== 'function' || key === 'synchronize' || key === 'timeMs' || key === 'alloc' || key === 'free') {
      timed[key] = value;
      continue;
    }
    const fn = value as (...a: unknown[]) => unknown;
    timed[key] = (...a: unknown[]) => {
      if (!timing) return fn(...a);
      let result: unknown;
      const ms = cuda.timeMs(() => (result = fn(...a)));
      const k = label(key, a);
      const entry = totals.get(k) ?? { ms: 0, calls: 0 };
      entry.ms += ms;
      entry.calls++;
      totals.set(k, entry);
      return result;
    };
  }
  T.setBackend(timed as unknown as Backend);

  const arch = args.arch === 'multistage' ? 'multistage' : 'ddpmpp';
  const decoders = args.decoders === undefined ? undefined : decoderWidths(args.decoders, arch);
  const mix = args['stage-mix'] === undefined ? null : stageMix(args['stage-mix'], arch);
  const channelsLast = args['channels-last']!;
  const { model, step: trainStep } = benchTraining(arch, decoders, channelsLast);
  const batch = Number(args.batch);
  const steps = Number(args.steps);
  // one sigma for the batch, or one stage-sorted draw of the mix (the same every step)
  const sigma = mix ? new StageSampler('balanced', model.partition, model.noiseDistribution(), mix).draw(batch, (n) => new T.Generator(1).uniformHost(n)).sigma : Number(args.sigma);
  const step = () => trainStep(batch, sigma);
  for (let i = 0; i < 2; i++) step();
  cuda.synchronize();
  const wall = performance.now();
  for (let i = 0; i < steps; i++) step();
  cuda.synchronize();
  const untimedMs = (performance.now() - wall) / steps;
  timing = true;
  for (let i = 0; i < steps; i++) step();
  timing = false;
  const rows = [...totals.entries()].map(([k, v]) => ({ k, ms: v.ms / steps, calls: v.calls / steps })).sort((a, b) => b.ms - a.ms);
  const sum = rows.reduce((s, r) => s + r.ms, 0);
  console.log(`${arch}${decoders ? ` decoders ${decoders.join(',')}` : ''} ${precision}${channelsLast ? ' channels last' : ''} batch ${batch} ${mix ? `mix ${mix.join(',')}` : `sigma ${sigma}`}: ${untimedMs.toFixed(1)} ms per step untimed (${((batch * 1000) / untimedMs).toFixed(0)} images/s); kernel GPU time ${sum.toFixed(1)} ms`);
  console.log('| kernel | ms / step | calls / step | share |\n|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.k} | ${r.ms.toFixed(2)} | ${r.calls} | ${((100 * r.ms) / sum).toFixed(1)}% |`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
