import { appendFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { readNpz } from '../../data/npz.js';
import type { Uint8Images } from '../../data/grid.js';
import { defaultSteps } from '../../diffusion/samplers/index.js';
import { generateImages } from '../../eval/generate.js';
import { formatCostTable, modelCost } from '../../eval/cost.js';
import { frechetDistance } from '../../eval/frechet.js';
import { ImageFeatureStatistics } from '../../eval/image-features.js';
import { openFeatureNetwork } from '../../eval/open-feature-network.js';
import { checkReferenceMatches, readReferenceStatistics } from '../../eval/reference-stats.js';
import { loadModelFromCheckpoint } from '../../train/load-model.js';
import { PRECISIONS, isPrecision, useDevice } from '../../runtime/device.js';
import { integerFlag, parseFlags } from '../args.js';
import { SAMPLER_FLAGS, samplerFlagsUsage, samplerFromFlags } from '../sampler-flags.js';
import { ProgressBar, formatDuration } from '../progress.js';

const USAGE = `usage: stagediff eval (--checkpoint RUN | --images x.npz) --ref ref.npz [--inception PATH | --featnet FILE] [options]

Draws samples from a checkpoint (image i from seed + i, as \`sample\`), computes their features and prints
their Frechet distance to reference statistics from \`stagediff fid-stats\` (or pytorch-fid's / EDM's npz):
FID with the Inception-v3 weights, FD_featnet with a featnet. With --checkpoint the result is appended to the
run's log.jsonl as an "eval" event. --images scores existing samples (uint8 NHWC arr_0, as \`sample --out x.npz\`).

  --checkpoint PATH    a checkpoint-*.safetensors file, or a run folder (its newest checkpoint)
  --images FILE        score these images instead of sampling
  --ref FILE           reference statistics (.npz with mu and sigma)
  --inception PATH     FID: pytorch-fid's Inception-v3 weights as safetensors (default: $STAGEDIFF_INCEPTION)
  --featnet FILE       FD_featnet instead of FID (the same featnet that made --ref)
  --count N            images to sample (default 50000, as the paper's FID); with --images, the first N
  --batch N            images per sampling and feature batch (default 250)
  --seed N             image i comes from seed N + i (default 0)
  --weights W          ema (default) | net
${samplerFlagsUsage()}
  --device D           auto | cpu | cuda
  --precision P        fp32 (default) | tf32 | bf16: GPU math of the sampling (features are always float32)
  --channels-last      sample with the network's activations channels last (NHWC; training.channelsLast)`;

export async function evalCommand(argv: string[]): Promise<void> {
  const v = parseFlags(
    argv,
    {
      checkpoint: { type: 'string' },
      images: { type: 'string' },
      ref: { type: 'string' },
      inception: { type: 'string' },
      featnet: { type: 'string' },
      count: { type: 'string' },
      batch: { type: 'string', default: '250' },
      seed: { type: 'string', default: '0' },
      weights: { type: 'string', default: 'ema' },
      ...SAMPLER_FLAGS,
      device: { type: 'string', default: 'auto' },
      precision: { type: 'string', default: 'fp32' },
      'channels-last': { type: 'boolean' },
    },
    USAGE,
  );
  if ((v.checkpoint === undefined) === (v.images === undefined)) throw new Error(`give --checkpoint (to sample) or --images (to score existing samples), one of them\n\n${USAGE}`);
  if (!v.ref) throw new Error(`--ref is required: reference statistics from \`stagediff fid-stats\`\n\n${USAGE}`);
  if (v.weights !== 'ema' && v.weights !== 'net') throw new Error(`--weights must be ema or net, got "${v.weights}"`);
  if (!isPrecision(v.precision!)) throw new Error(`--precision must be one of ${PRECISIONS.join(', ')}, got "${v.precision}"`);
  const count = integerFlag('count', v.count ?? (v.images === undefined ? '50000' : undefined), 2);
  const batch = integerFlag('batch', v.batch, 1)!;
  const seed = integerFlag('seed', v.seed)!;
  const { sampler, steps } = samplerFromFlags(v);
  // Everything that can be wrong with the inputs fails here, before minutes of sampling.
  const ref = readReferenceStatistics(v.ref);
  const device = await useDevice(v.device!, v.precision);
  const opened = openFeatureNetwork({ inception: v.inception, featnet: v.featnet });
  checkReferenceMatches(v.ref, ref, opened.identity);
  const stats = new ImageFeatureStatistics(opened.network);
  const bar = new ProgressBar('eval');
  const started = performance.now();

  if (v.images !== undefined) {
    const all = npzImages(v.images);
    if (count !== undefined && count > all.count) throw new Error(`--count ${count}: ${v.images} holds only ${all.count} images`);
    const images = count === undefined ? all : imageRange(all, 0, count);
    for (let first = 0; first < images.count; first += batch) {
      stats.add(imageRange(images, first, Math.min(batch, images.count - first)));
      bar.update(stats.samples, images.count, 'images');
    }
    bar.finish();
    const value = frechetDistance(stats.statistics(), ref.statistics);
    console.log(`${opened.label} ${formatValue(value)}: ${images.count} images of ${v.images} against ${v.ref} (${opened.description}) in ${formatDuration((performance.now() - started) / 1000)}`);
    return;
  }

  const { model, path, state } = loadModelFromCheckpoint(v.checkpoint!, v.weights);
  model.net.setChannelsLast(v['channels-last'] ?? false);
  const summary = await generateImages({
    model: model.denoiser(),
    shape: model.imageShape,
    sampler,
    steps,
    partition: model.partition,
    count: count!,
    batch,
    seed,
    sink: (b) => {
      stats.add(b);
      const seconds = (performance.now() - started) / 1000;
      bar.update(stats.samples, count!, `${(stats.samples / seconds).toFixed(1)} images/s`);
    },
  });
  bar.finish();
  const value = frechetDistance(stats.statistics(), ref.statistics);
  const seconds = (performance.now() - started) / 1000;
  const samplerEntry = { ...sampler, steps: steps ?? defaultSteps(sampler), evaluations: summary.evaluationsPerImage, precision: v.precision };
  const log = join(dirname(path), 'log.jsonl');
  console.log(
    `${opened.label} ${formatValue(value)}: ${count} images from ${path} (${state.imagesSeen} training images, ${v.weights} weights) on ${device}, ` +
      `${sampler.name} ${samplerEntry.steps} steps = ${summary.evaluationsPerImage} evaluations (per stage ${summary.evaluationsPerStage.join(' / ')}); ` +
      `sampling ${(count! / summary.seconds).toFixed(1)} images/s, eval ${formatDuration(seconds)} (${seconds.toFixed(1)} s) in all; against ${v.ref} (${opened.description}); logged to ${log}`,
  );
  // The cost of those images, per stage: what the paper's tables set next to FID.
  console.log(`\n${formatCostTable(modelCost(model, { sampler, steps, batch: Math.min(batch, COST_TIMING_BATCH) }), `cost per stage on ${device}`)}`);
  const entry = { time: new Date().toISOString(), event: 'eval', metric: opened.identity.metric, value, count, images: state.imagesSeen, checkpoint: basename(path), sampler: samplerEntry, seconds };
  try {
    appendFileSync(log, `${JSON.stringify(entry)}\n`);
  } catch (e) {
    throw new Error(`${log}: cannot append the eval entry (${(e as Error).message}); the result is printed above`);
  }
}

/** Images per timed evaluation of the cost table (a sampling batch, capped so the timing stays short). */
const COST_TIMING_BATCH = 256;

function formatValue(value: number): string {
  return value.toFixed(value < 10 ? 4 : 3);
}

/** The `arr_0` of an npz of samples: uint8 [N, H, W, C], as `sample --out x.npz`, EDM and pytorch-fid write it. */
function npzImages(path: string): Uint8Images {
  const arrays = readNpz(path);
  const a = arrays.get('arr_0');
  if (!a) throw new Error(`${path} has no arr_0 (it holds ${[...arrays.keys()].join(', ') || 'nothing'}); expected images as \`stagediff sample --out x.npz\` writes them`);
  if (a.dtype !== '|u1' || a.shape.length !== 4) throw new Error(`${path}: arr_0 is ${a.dtype} [${a.shape.join(', ')}], expected uint8 [N, H, W, C]`);
  const [count, height, width, channels] = a.shape;
  if (count < 2) throw new Error(`${path} holds ${count} image; a Frechet distance needs the statistics of at least 2 images`);
  return { count, height, width, channels, pixels: a.data as Uint8Array };
}

function imageRange(images: Uint8Images, first: number, count: number): Uint8Images {
  const size = images.height * images.width * images.channels;
  return { ...images, count, pixels: images.pixels.subarray(first * size, (first + count) * size) };
}
