/**
 * `stagediff bench`: training and sampling throughput of the paper's CIFAR-10 networks, measured as the
 * PyTorch anchor (reference/ANCHORS.md) measures it: the trainer's own step (EDM loss, backward, gradient
 * repair, Adam over all parameters, EMA) on random data at a fixed sigma per stage, and EDM Heun sampling with 18 steps
 * (35 evaluations). With --stage-mix, also a multistage step on a batch that mixes the stages as
 * `balanced` stage sampling does (each sample routed to its stage's decoder). One JSON line per
 * measurement, then a table.
 */
import * as T from '../../tensor/index.js';
import { presetConfig, resolveTrainConfig } from '../../train/config.js';
import { mergeConfig } from '../../config/schema.js';
import { type DiffusionModel, partitionFromConfig } from '../../train/diffusion-model.js';
import { type MicroBatch, buildTrainingParts, stepSchedule, trainStep } from '../../train/train-step.js';
import { sample } from '../../diffusion/sample.js';
import { integerFlag, parseFlags } from '../args.js';
import { PRECISIONS, isPrecision, useDevice } from '../../runtime/device.js';
import { costPerStage, formatCostTable } from '../../eval/cost.js';
import { SAMPLER_FLAGS, samplerFlagsUsage, samplerFromFlags } from '../sampler-flags.js';
import { StageSampler } from '../../train/stage-sampling.js';

const USAGE = `usage: stagediff bench [options]

  --arch A            ddpmpp | multistage (default ddpmpp)
  --device D          auto | cpu | cuda (default auto)
  --precision P,...   fp32, tf32, bf16 (default fp32,tf32 on a GPU)
  --channels-last L,... off, on: the network's activations NCHW or channels last (NHWC; training.channelsLast;
                      default off); each precision is measured in each
  --batch N,...       training batch sizes (default 128)
  --stages S,...      s0, s1, s2 = sigma 0.5, 5, 20 (default s0 for ddpmpp, all for multistage)
  --stage-mix A,B,C   multistage: also time a step on batches mixing the stages in these shares, drawn
                      as training.stageSampling "balanced" draws them (e.g. 0.5,0.3,0.2)
  --decoders A,B,C    multistage: the decoders' widths (model.network.de_model_channels; default the
                      preset's 192,128,16)
  --iters N           timed steps per measurement after 3 warm-up steps (default 10)
  --sample            also time EDM Heun sampling, 18 steps = 35 evaluations, and print the cost table
  --sample-batch N    sampling batch (default 512 for ddpmpp, 256 for multistage)
  --cost              only the cost table per stage (no training): parameters, GMACs and measured ms per
                      evaluation of each stage (--iters batches of --sample-batch; default 8 on the CPU), evaluations
                      per stage of Heun 18 steps (or --sampler, --steps, --order), the cost of one image
${samplerFlagsUsage().replace(/^/gm, '  ')}`;

const SIGMA: Record<string, number> = { s0: 0.5, s1: 5, s2: 20 };

interface Row {
  arch: string;
  device: string;
  precision: string;
  channelsLast: boolean;
  batch: number;
  what: string;
  imagesPerSecond?: number;
  peakMiB?: number;
  error?: string;
}

function seconds(backend: T.Tensor['backend'], fn: () => void): number {
  backend.synchronize();
  const t = performance.now();
  fn();
  backend.synchronize();
  return (performance.now() - t) / 1000;
}

type MemoryStats = { peakBytes: number };
function memoryOf(backend: object): { reset(): void; peakMiB(): number } | null {
  if (!('memoryStats' in backend) || !('resetPeakMemory' in backend)) return null;
  const b = backend as { memoryStats(): MemoryStats; resetPeakMemory(): void };
  return { reset: () => b.resetPeakMemory(), peakMiB: () => Math.round(b.memoryStats().peakBytes / 2 ** 20) };
}

/**
 * The measured training step on a paper network (the multistage one with the paper's decoders, as the PyTorch
 * anchors have it; freshly initialised, seed 0) with its training preset's optimizer and EMA: the trainer's own step (EDM loss, backward, gradient repair, Adam, EMA) on random
 * data at one sigma, or at one sigma per sample. Also used by bench/profile-step.ts.
 */
export function benchTraining(arch: 'ddpmpp' | 'multistage', decoders?: readonly number[], channelsLast = false): { model: DiffusionModel; step: (batch: number, sigma: number | Float64Array) => void; dispose: () => void } {
  const preset = mergeConfig(presetConfig(arch === 'ddpmpp' ? 'cifar10-edm-ddpmpp' : 'cifar10-edm-multistage-paper'), { training: { channelsLast } });
  const config = resolveTrainConfig((decoders ? mergeConfig(preset, { model: { network: { de_model_channels: [...decoders] } } }) : preset) as Record<string, unknown>);
  const gen = new T.Generator(0);
  const parts = buildTrainingParts(config, [3, 32, 32], partitionFromConfig(config.model, config.formulation), gen);
  const { lr, emaDecay } = stepSchedule(config, config.training.lrRampUpImages, 1);
  const step = (batch: number, sigma: number | Float64Array): void => {
    parts.model.net.train(true);
    const micro: MicroBatch = { sigma: typeof sigma === 'number' ? new Float64Array(batch).fill(sigma) : sigma, weight: new Float64Array(batch).fill(1), images: () => T.mulScalar(gen.normal([batch, 3, 32, 32]), 0.5) };
    trainStep(parts, gen, { batchSize: batch, microBatches: 1, lr, emaDecay, gradClip: config.training.gradClip }, () => micro);
  };
  const dispose = (): void => {
    parts.optimizer.dispose();
    for (const p of [...parts.model.net.parameters(), ...parts.ema.net.parameters()]) p.dispose();
  };
  return { model: parts.model, step, dispose };
}

/** --channels-last: off, on or both (off,on), each at most once. */
export function channelsLastChoices(text: string): boolean[] {
  const words = text.split(',');
  if (words.some((w) => w !== 'off' && w !== 'on') || new Set(words).size !== words.length) throw new Error(`--channels-last takes off, on or off,on, got "${text}"`);
  return words.map((w) => w === 'on');
}

/** --decoders: one positive integer width per decoder of the multistage network (three). */
export function decoderWidths(text: string, arch: string): number[] {
  if (arch !== 'multistage') throw new Error('--decoders needs --arch multistage (the other network has one decoder)');
  const widths = text.split(',').map(Number);
  if (widths.length !== 3 || widths.some((w) => !(Number.isInteger(w) && w > 0))) throw new Error(`--decoders takes three positive integer widths, one per stage (e.g. 128,128,16), got "${text}"`);
  return widths;
}

/** --stage-mix: one positive share per stage of the multistage network (three). */
export function stageMix(text: string, arch: string): number[] {
  if (arch !== 'multistage') throw new Error('--stage-mix needs --arch multistage (the other network has one stage)');
  const shares = text.split(',').map(Number);
  if (shares.length !== 3 || shares.some((s) => !(s > 0))) throw new Error(`--stage-mix takes three positive shares, one per stage (e.g. 0.5,0.3,0.2), got "${text}"`);
  return shares;
}

export async function benchCommand(argv: string[]): Promise<void> {
  const v = parseFlags(
    argv,
    {
      arch: { type: 'string', default: 'ddpmpp' },
      device: { type: 'string', default: 'auto' },
      precision: { type: 'string' },
      'channels-last': { type: 'string', default: 'off' },
      batch: { type: 'string', default: '128' },
      stages: { type: 'string' },
      iters: { type: 'string', default: '10' },
      sample: { type: 'boolean' },
      'sample-batch': { type: 'string' },
      'stage-mix': { type: 'string' },
      decoders: { type: 'string' },
      cost: { type: 'boolean' },
      ...SAMPLER_FLAGS,
    },
    USAGE,
  );
  if (v.arch !== 'ddpmpp' && v.arch !== 'multistage') throw new Error(`--arch must be ddpmpp or multistage, got "${v.arch}"`);
  const stages = (v.stages ?? (v.arch === 'ddpmpp' ? 's0' : 's0,s1,s2')).split(',');
  for (const s of stages) if (!(s in SIGMA)) throw new Error(`--stages: unknown stage "${s}" (s0, s1, s2)`);
  const batches = v.batch!.split(',').map((b) => integerFlag('batch', b, 1)!);
  const mix = v['stage-mix'] === undefined ? null : stageMix(v['stage-mix'], v.arch);
  const decoders = v.decoders === undefined ? undefined : decoderWidths(v.decoders, v.arch);
  const iters = integerFlag('iters', v.iters, 1)!;
  const sampleBatch = integerFlag('sample-batch', v['sample-batch'] ?? (v.arch === 'ddpmpp' ? '512' : '256'), 1)!;
  const costSampler = samplerFromFlags(v);
  const firstDevice = await useDevice(v.device!, 'fp32');
  const costBatch = v['sample-batch'] !== undefined || firstDevice.startsWith('cuda') ? sampleBatch : 8;
  const precisions = (v.precision ?? (firstDevice.startsWith('cuda') ? 'fp32,tf32' : 'fp32')).split(',').map((precision) => {
    if (!isPrecision(precision)) throw new Error(`--precision: unknown "${precision}" (${PRECISIONS.join(', ')})`);
    return precision;
  });
  const layouts = channelsLastChoices(v['channels-last']!);
  const rows: Row[] = [];
  const costTables: string[] = [];
  const emit = (row: Row) => {
    rows.push(row);
    console.log(JSON.stringify(row));
  };

  for (const [precision, channelsLast] of precisions.flatMap((p) => layouts.map((l) => [p, l] as const))) {
    const device = await useDevice(v.device!, precision);
    const backend = T.getBackend();
    const memory = memoryOf(backend);
    const { model, step: trainStep, dispose } = benchTraining(v.arch, decoders, channelsLast);
    const { net } = model;
    const denoiser = model.denoiser();
    const base = { arch: v.arch, device, precision, channelsLast };
    for (const batch of v.cost ? [] : batches) {
      for (const stage of stages) {
        try {
          for (let i = 0; i < 3; i++) trainStep(batch, SIGMA[stage]);
          memory?.reset();
          const s = seconds(backend, () => {
            for (let i = 0; i < iters; i++) trainStep(batch, SIGMA[stage]);
          });
          emit({ ...base, batch, what: `train ${stage}`, imagesPerSecond: +((batch * iters) / s).toFixed(1), peakMiB: memory?.peakMiB() });
        } catch (e) {
          emit({ ...base, batch, what: `train ${stage}`, error: (e as Error).message.split('\n')[0] });
        }
      }
      if (mix) {
        const what = `train mix ${mix.join(',')}`;
        try {
          // the trainer's balanced draw: each stage's count by its share, sigmas from the stage's slice of the training distribution
          const sampler = new StageSampler('balanced', model.partition, model.noiseDistribution(), mix);
          const draws = new T.Generator(1);
          const sigmas = Array.from({ length: 3 + iters }, () => sampler.draw(batch, (n) => draws.uniformHost(n)).sigma);
          for (let i = 0; i < 3; i++) trainStep(batch, sigmas[i]);
          memory?.reset();
          const s = seconds(backend, () => {
            for (let i = 0; i < iters; i++) trainStep(batch, sigmas[3 + i]);
          });
          emit({ ...base, batch, what, imagesPerSecond: +((batch * iters) / s).toFixed(1), peakMiB: memory?.peakMiB() });
        } catch (e) {
          emit({ ...base, batch, what, error: (e as Error).message.split('\n')[0] });
        }
      }
    }
    if (v.sample) {
      net.train(false);
      const run = () => sample({ model: denoiser, shape: [3, 32, 32], batch: sampleBatch, seed: 0, sampler: 'heun', steps: 18 }).images.dispose();
      try {
        run();
        memory?.reset();
        const s = seconds(backend, run);
        emit({ ...base, batch: sampleBatch, what: 'sample heun 35 NFE', imagesPerSecond: +(sampleBatch / s).toFixed(1), peakMiB: memory?.peakMiB() });
      } catch (e) {
        emit({ ...base, batch: sampleBatch, what: 'sample heun 35 NFE', error: (e as Error).message.split('\n')[0] });
      }
    }
    if (v.sample || v.cost) {
      net.train(false);
      const table = costPerStage({ net, denoiser, partition: model.partition, shape: [3, 32, 32], ...costSampler, batch: costBatch, repeats: iters });
      console.log(JSON.stringify({ ...base, what: 'cost per stage', cost: table }));
      costTables.push(formatCostTable(table, `${v.arch} on ${device}${channelsLast ? ', channels last' : ''}`));
    }
    dispose();
  }
  for (const table of costTables) console.log(`\n${table}`);
  if (rows.length === 0) return;
  console.log('\n| arch | device | precision | layout | batch | measurement | images/s | peak MiB |\n|---|---|---|---|---|---|---|---|');
  for (const r of rows) console.log(`| ${r.arch} | ${r.device} | ${r.precision} | ${r.channelsLast ? 'NHWC' : 'NCHW'} | ${r.batch} | ${r.what} | ${r.error ? `error: ${r.error}` : r.imagesPerSecond} | ${r.peakMiB ?? ''} |`);
}
