/**
 * What one training image costs a configuration, for comparing networks at equal compute (docs/results.md):
 *
 *   node dist/scripts/training-cost.js [--preset NAME] [--config FILE] [--set a.b=value ...] [--stages-from FILE]
 *
 * takes the settings as `stagediff train` does, builds the network (on the CPU, no training), and prints per
 * stage the probability mass under the formulation's noise distribution, the share of training samples the
 * stage sampling gives it (`balanced`/`balanced-batch`: stageShares; `per-sample`/`edm-marginal`: the masses;
 * `uniform`: equal), its parameters and the multiply-accumulates of one forward pass of one image (counted as
 * src/eval/cost.ts counts them), then the mean forward MACs per training image at those shares. A training
 * step is about 3x the forward MACs (the backward pass about twice the forward); Adam and the EMA add work
 * per parameter per step, not per image, and routing a mixed batch adds gathers and launches: images/s
 * follows 1 / MACs only roughly.
 */
import { basename } from 'node:path';
import * as T from '../src/tensor/index.js';
import { parseFlags } from '../src/cli/args.js';
import { configFromFlags } from '../src/cli/commands/train.js';
import { resolveTrainConfig, type TrainConfig } from '../src/train/config.js';
import { partitionFromConfig } from '../src/train/diffusion-model.js';
import { buildTrainingParts } from '../src/train/train-step.js';
import { readPartitionFile } from '../src/train/trainer.js';
import { countMacs, parametersByStage } from '../src/eval/cost.js';
import { StageSampler } from '../src/train/stage-sampling.js';
import { useDevice } from '../src/runtime/device.js';

const USAGE = 'usage: node dist/scripts/training-cost.js [--preset NAME] [--config FILE] [--set a.b=value ...] [--stages-from FILE]';

export interface StageTrainingCost {
  stage: number;
  mass: number;
  share: number;
  pathParameters: number;
  forwardMacs: number;
}

export interface TrainingCost {
  totalParameters: number;
  stages: StageTrainingCost[];
  /** Forward multiply-accumulates per training image, averaged over the stages at their shares. */
  forwardMacsPerImage: number;
}

function imageShape(config: TrainConfig): number[] {
  const { source, resolution } = config.data;
  if (source === 'cifar10') return [3, 32, 32];
  if (source === 'shapes' || source === 'folder') return [3, resolution, resolution];
  throw new Error(`training-cost: no image shape for data.source "${source}" (cifar10, shapes or folder)`);
}

/** The share of training samples each stage gets under the config's stage sampling (in expectation). */
function trainingShares(config: TrainConfig, masses: readonly number[]): number[] {
  const k = masses.length;
  switch (config.training.stageSampling) {
    case 'balanced':
    case 'balanced-batch': {
      const given = config.training.stageShares ?? new Array<number>(k).fill(1);
      const total = given.reduce((a, b) => a + b, 0);
      return given.map((s) => s / total);
    }
    case 'uniform':
      return new Array<number>(k).fill(1 / k);
    default:
      return [...masses];
  }
}

export function trainingCost(config: TrainConfig): TrainingCost {
  const partitionFile = config.model.stagesFrom ? readPartitionFile(config.model.stagesFrom) : undefined;
  const partition = partitionFromConfig(config.model, config.formulation, partitionFile);
  const shape = imageShape(config);
  const { model, ema, optimizer } = buildTrainingParts(config, shape, partition, new T.Generator(0));
  try {
    const masses = new StageSampler('per-sample', partition, model.noiseDistribution()).stageMasses();
    const shares = trainingShares(config, masses);
    const params = parametersByStage(model.net, partition.numStages);
    // Counting needs no dropout masks: the layers and their sizes are the same in eval mode.
    model.net.train(false);
    const denoiser = model.denoiser();
    const stages = masses.map((mass, stage): StageTrainingCost => {
      const [lo, hi] = partition.interval(stage);
      const sigma = lo === 0 ? (hi === Infinity ? 1 : hi / 2) : hi === Infinity ? lo * 2 : Math.sqrt(lo * hi);
      const x = T.noGrad(() => T.mulScalar(new T.Generator(0).normal([1, ...shape]), sigma));
      const forwardMacs = countMacs(model.net, () => T.noGrad(() => T.tidy(() => void denoiser(x, T.full([1], sigma, 'float32')))));
      x.dispose();
      return { stage, mass, share: shares[stage], pathParameters: params.shared + params.own[stage], forwardMacs };
    });
    return { totalParameters: params.total, stages, forwardMacsPerImage: stages.reduce((a, s) => a + s.share * s.forwardMacs, 0) };
  } finally {
    optimizer.dispose();
    for (const p of [...model.net.parameters(), ...ema.net.parameters()]) p.dispose();
  }
}

async function main(argv: string[]): Promise<void> {
  const values = parseFlags(argv, { preset: { type: 'string' }, config: { type: 'string' }, set: { type: 'string', multiple: true }, 'stages-from': { type: 'string' } }, USAGE);
  if (!values.preset && !values.config) throw new Error(`give --preset or --config\n\n${USAGE}`);
  const config = resolveTrainConfig(configFromFlags(values));
  // MACs are counted, not timed: the CPU backend builds and runs the network anywhere.
  await useDevice('cpu');
  const cost = trainingCost(config);
  const mega = (n: number): string => `${(n / 1e6).toFixed(3)}M`;
  console.log(`${config.model.kind}, ${config.training.stageSampling}, ${mega(cost.totalParameters)} parameters`);
  console.log('| stage | mass | training share | path parameters | forward MMACs per image |\n|---|---|---|---|---|');
  for (const s of cost.stages) console.log(`| ${s.stage} | ${s.mass.toFixed(4)} | ${s.share.toFixed(4)} | ${mega(s.pathParameters)} | ${(s.forwardMacs / 1e6).toFixed(3)} |`);
  console.log(`| per training image | | | | ${(cost.forwardMacsPerImage / 1e6).toFixed(3)} (x3 for forward + backward) |`);
  console.log(JSON.stringify(cost));
}

if (process.argv[1] && import.meta.url.endsWith(basename(process.argv[1]))) {
  main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`training-cost: ${(e as Error).message}`);
    process.exit(1);
  });
}
