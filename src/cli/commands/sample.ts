import { writePngGrid } from '../../data/png.js';
import { sample } from '../../diffusion/sample.js';
import { EDM_CHURN_RANGE } from '../../diffusion/samplers/heun.js';
import { onSchedule, samplerFromName } from '../../diffusion/samplers/index.js';
import { loadModelFromCheckpoint } from '../../train/load-model.js';
import { integerFlag, parseFlags } from '../args.js';
import { PRECISIONS, isPrecision, useDevice } from '../../tensor/device.js';

const USAGE = `usage: stagediff sample --checkpoint PATH [options]

Draws images from a trained model and writes them as a PNG grid.

  --checkpoint PATH    a checkpoint-*.safetensors file, or a run folder (its newest checkpoint)
  --weights W          ema (default) | net
  --count N            number of images (default 64)
  --sampler S          heun (default) | euler | dpm-solver (= dpm-solver-3) | dpm-solver-1 | dpm-solver-2 | dpm-solver-3 |
                       dpm-solver++ (2M) | ddim
  --steps N            sampler steps (default: the sampler's own; EDM Heun 18 = 35 evaluations)
  --churn S            heun/euler only: EDM's stochastic sampler, S_churn S (e.g. 40) with EDM's S_min 0.05,
                       S_max 50, S_noise 1.003 (default 0: deterministic)
  --seed N             noise seed (default 0)
  --out FILE           PNG grid (default samples.png)
  --device D           auto | cpu | cuda
  --precision P        fp32 (default) | tf32 | bf16: GPU math (bf16 samples about 1.5x faster than tf32)`;

export async function sampleCommand(argv: string[]): Promise<void> {
  const v = parseFlags(
    argv,
    {
      checkpoint: { type: 'string' },
      weights: { type: 'string', default: 'ema' },
      count: { type: 'string', default: '64' },
      sampler: { type: 'string', default: 'heun' },
      steps: { type: 'string' },
      churn: { type: 'string', default: '0' },
      seed: { type: 'string', default: '0' },
      out: { type: 'string', default: 'samples.png' },
      device: { type: 'string', default: 'auto' },
      precision: { type: 'string', default: 'fp32' },
    },
    USAGE,
  );
  if (!v.checkpoint) throw new Error(`--checkpoint is required\n\n${USAGE}`);
  if (v.weights !== 'ema' && v.weights !== 'net') throw new Error(`--weights must be ema or net, got "${v.weights}"`);
  if (!isPrecision(v.precision!)) throw new Error(`--precision must be one of ${PRECISIONS.join(', ')}, got "${v.precision}"`);
  const churn = Number(v.churn);
  if (!(churn >= 0)) throw new Error(`--churn must be a number >= 0, got "${v.churn}"`);
  if (churn > 0 && v.sampler !== 'heun' && v.sampler !== 'euler') throw new Error(`--churn applies to the heun and euler samplers, not ${v.sampler}`);
  const device = await useDevice(v.device!, v.precision);
  const { model, path, state } = loadModelFromCheckpoint(v.checkpoint, v.weights);
  const started = performance.now();
  const result = sample({
    model: model.denoiser(),
    shape: model.imageShape,
    batch: integerFlag('count', v.count, 1)!,
    seed: integerFlag('seed', v.seed)!,
    steps: integerFlag('steps', v.steps, 1),
    sampler: churn > 0 ? { name: v.sampler as 'heun' | 'euler', churn, ...EDM_CHURN_RANGE } : onSchedule(samplerFromName(v.sampler!), model.vpSchedule),
    partition: model.partition,
  });
  const seconds = (performance.now() - started) / 1000;
  writePngGrid(v.out!, result.images);
  console.log(
    `${result.images.shape[0]} images from ${path} (${state.imagesSeen} training images, ${v.weights} weights) on ${device} in ${seconds.toFixed(1)} s: ` +
      `${result.evaluations} network evaluations (per stage ${result.evaluationsPerStage.join(' / ')}); grid ${v.out}`,
  );
}
