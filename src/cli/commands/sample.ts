import { onSchedule } from '../../diffusion/samplers/index.js';
import { generateImages } from '../../eval/generate.js';
import { ImageOutput, checkImageCapacity, checkImageOutput, planImageOutput } from '../../eval/image-output.js';
import { loadModelFromCheckpoint } from '../../train/load-model.js';
import { integerFlag, parseFlags } from '../args.js';
import { PRECISIONS, isPrecision, useDevice } from '../../runtime/device.js';
import { ProgressBar, formatDuration } from '../progress.js';
import { SAMPLER_FLAGS, samplerFlagsUsage, samplerFromFlags } from '../sampler-flags.js';

const USAGE = `usage: stagediff sample --checkpoint PATH [options]

Draws images from a trained model. Image i comes from seed (--seed + i) with its own generator, as EDM's
generate.py draws them: the same image whatever the batch, so a run can be split (--first, --count) or
resumed and any subset redrawn exactly (bit for bit on the CPU).

  --checkpoint PATH    a checkpoint-*.safetensors file, or a run folder (its newest checkpoint)
  --weights W          ema (default) | net
  --count N            number of images (default 64)
  --first I            index of the first image (default 0): draws images I .. I+N-1
  --batch B            images per network batch (default 64)
  --seed S             seed offset: image i comes from seed S + i (default 0)
${samplerFlagsUsage()}
  --class C            a class-conditional model (model.network.label_dim > 0): draw class C (0-based);
                       without it such a model samples unconditionally (all-zero labels)
  --guidance W         classifier-free guidance weight with --class: D_uncond + W (D_cond - D_uncond);
                       default 1 (plain conditional; W > 1 sharpens the class, one more evaluation per step)
  --out PATH           x.png: a PNG grid (at most 64 images; default samples.png)
                       x.npz: every image as uint8 NHWC arr_0 (numpy, EDM and pytorch-fid read it)
                       a folder (existing, ending in /, or a name without extension): one PNG per image,
                       named by its seed (000123.png)
  --grid FILE          the PNG grid of the first 64 images (default: --out for a .png, else --out with .png:
                       x.npz -> x.png, folder -> folder.png)
  --device D           auto | cpu | cuda
  --precision P        fp32 (default) | tf32 | bf16: GPU math (bf16 samples about 1.5x faster than tf32)
  --channels-last      run the network's activations channels last (NHWC; training.channelsLast)`;

export async function sampleCommand(argv: string[]): Promise<void> {
  const v = parseFlags(
    argv,
    {
      checkpoint: { type: 'string' },
      weights: { type: 'string', default: 'ema' },
      count: { type: 'string', default: '64' },
      first: { type: 'string', default: '0' },
      batch: { type: 'string', default: '64' },
      seed: { type: 'string', default: '0' },
      ...SAMPLER_FLAGS,
      class: { type: 'string' },
      guidance: { type: 'string' },
      out: { type: 'string', default: 'samples.png' },
      grid: { type: 'string' },
      device: { type: 'string', default: 'auto' },
      precision: { type: 'string', default: 'fp32' },
      'channels-last': { type: 'boolean' },
    },
    USAGE,
  );
  if (!v.checkpoint) throw new Error(`--checkpoint is required\n\n${USAGE}`);
  if (v.weights !== 'ema' && v.weights !== 'net') throw new Error(`--weights must be ema or net, got "${v.weights}"`);
  if (!isPrecision(v.precision!)) throw new Error(`--precision must be one of ${PRECISIONS.join(', ')}, got "${v.precision}"`);
  const count = integerFlag('count', v.count, 1)!;
  const first = integerFlag('first', v.first)!;
  const batch = integerFlag('batch', v.batch, 1)!;
  const seed = integerFlag('seed', v.seed)!;
  const { sampler, steps } = samplerFromFlags(v);
  const classLabel = integerFlag('class', v.class);
  const guidance = v.guidance === undefined ? undefined : Number(v.guidance);
  if (guidance !== undefined && (classLabel === undefined || !Number.isFinite(guidance))) throw new Error(`--guidance needs --class and a finite number, got "${v.guidance}"`);
  const plan = planImageOutput(v.out!, v.grid);
  checkImageOutput(plan, count);
  const device = await useDevice(v.device!, v.precision);
  const { model, path, state } = loadModelFromCheckpoint(v.checkpoint, v.weights);
  model.net.setChannelsLast(v['channels-last'] ?? false);
  checkImageCapacity(plan, count, model.imageShape);
  if (classLabel !== undefined && model.labelDim === 0) throw new Error(`--class: ${path} is an unconditional model (model.network.label_dim 0)`);
  if (classLabel !== undefined && classLabel >= model.labelDim) throw new Error(`--class ${classLabel}: ${path} has classes 0 to ${model.labelDim - 1}`);

  const output = new ImageOutput(plan, count, model.imageShape, seed);
  const bar = new ProgressBar('sample');
  const started = performance.now();
  let summary;
  try {
    summary = await generateImages({
      model: model.denoiser(),
      shape: model.imageShape,
      sampler: onSchedule(sampler, model.vpSchedule),
      steps,
      partition: model.partition,
      count,
      batch,
      first,
      seed,
      ...(classLabel === undefined ? {} : { classLabel, numClasses: model.labelDim, guidance }),
      sink: (b) => {
        output.write(b);
        const done = b.first + b.count - first;
        bar.update(done, count, `${(done / ((performance.now() - started) / 1000)).toFixed(1)} images/s`);
      },
    });
    output.close();
  } catch (e) {
    output.abort();
    throw e;
  } finally {
    bar.finish();
  }
  const written = plan.kind === 'grid' ? `grid ${plan.grid}` : `${plan.kind} ${plan.path}, grid ${plan.grid}`;
  console.log(
    `${count} images (${first} .. ${first + count - 1}, seeds from ${seed + first}) from ${path} (${state.imagesSeen} training images, ${v.weights} weights) on ${device}${model.net.channelsLast ? ', channels last' : ''} ` +
      `in ${formatDuration(summary.seconds)} (${(count / summary.seconds).toFixed(1)} images/s): ${summary.evaluationsPerImage} network evaluations ` +
      `(per stage ${summary.evaluationsPerStage.join(' / ')}) per image; ${written}`,
  );
}
