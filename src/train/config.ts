/**
 * The training configuration: one schema (validation + docs/config.md), the typed result, and the
 * presets for the paper's setups and the quickstart.
 */
import { type ObjectSpec, documentSchema, mergeConfig, validateObject } from '../config/schema.js';
import { ALL_STAGE_SAMPLING_KINDS } from './stage-sampling.js';
import type { Precision } from '../runtime/device.js';
import { PAPER_CIFAR10_BOUNDARIES } from '../stages/stage-partition.js';

export interface TrainConfig {
  seed: number;
  device: 'auto' | 'cpu' | 'cuda';
  precision: Precision;
  runDir: string;
  data: { source: 'shapes' | 'cifar10' | 'mnist' | 'folder'; path: string | null; resolution: number; count: number; flip: boolean };
  model: { kind: 'unified' | 'multistage' | 'separate'; network: Record<string, unknown>; stageBoundaries: number[] | null; stageUnits: 'sigma' | 'vp-t' | 'step'; stagesFrom: string | null };
  formulation: { kind: 'edm' | 'vp'; sigmaData: number; pMean: number; pStd: number; betaMin: number; betaMax: number; tMin: number };
  training: {
    totalImages: number;
    batchSize: number;
    microBatch: number | null;
    lr: number;
    lrRampUpImages: number;
    warmupSteps: number;
    gradClip: number | null;
    gradientBucketMiB: number;
    adam: { beta1: number; beta2: number; eps: number; weightDecay: number };
    stageSampling: (typeof ALL_STAGE_SAMPLING_KINDS)[number];
    stageShares: number[] | null;
    sharedDecoderImages: number;
    sharedDecoderMoments: 'copy' | 'fresh';
    augment: number | null;
    ema: { kind: 'halflife' | 'constant'; halfLifeImages: number; rampUpRatio: number | null; decay: number };
    cudaGraphs: 'off' | 'auto' | 'on';
    channelsLast: boolean;
  };
  output: {
    logEveryImages: number;
    checkpointEveryImages: number;
    checkpointEveryMinutes: number | null;
    snapshotEveryImages: number;
    keepCheckpoints: number;
    grid: { count: number; steps: number; seed: number };
  };
}

export const TRAIN_CONFIG_SCHEMA: ObjectSpec = {
  seed: { type: 'integer', min: 0, default: 0, doc: 'Seed of every random number of the run (data order, flips, noise, dropout, initial weights).' },
  device: { type: 'string', enum: ['auto', 'cpu', 'cuda'], default: 'auto', doc: '`auto` uses the GPU when the CUDA backend can start, else the CPU.' },
  precision: { type: 'string', enum: ['fp32', 'tf32', 'bf16'], default: 'fp32', doc: 'GPU matrix math: `fp32` (as EDM trains; exact against the CPU backend), `tf32` (tensor cores, about 1.5x faster) or `bf16` (mixed precision as PyTorch autocast: convolutions and matrix products in bfloat16 with fp32 accumulation, activations in bfloat16 between them, weights, their gradients, Adam and the loss in fp32; about 1.7x TF32 on an H200). The CPU always computes in fp32.' },
  runDir: { type: 'string', default: 'runs/train', doc: 'Folder of the run: checkpoints, log.jsonl, sample grids, report.' },
  data: {
    type: 'object',
    doc: 'Training images.',
    fields: {
      source: { type: 'string', enum: ['shapes', 'cifar10', 'mnist', 'folder'], default: 'shapes', doc: '`shapes`: built-in procedural coloured shapes (no files needed); `cifar10`: the binary batches; `mnist`: IDX files; `folder`: PNG/JPEG images.' },
      path: { type: 'string', nullable: true, default: null, doc: 'File or folder of the data (required for every source but `shapes`).' },
      resolution: { type: 'integer', min: 8, default: 32, doc: 'Image size for `shapes`, and the size `folder` images are resized to.' },
      count: { type: 'integer', min: 1, default: 10000, doc: 'Number of images of the `shapes` data set.' },
      flip: { type: 'boolean', default: true, doc: 'Random horizontal flips.' },
    },
  },
  model: {
    type: 'object',
    doc: 'The network.',
    fields: {
      kind: { type: 'string', enum: ['unified', 'multistage', 'separate'], default: 'multistage', doc: '`unified`: one U-Net for all noise levels (SongUNet); `multistage`: shared encoder, one decoder per stage (MultistageUNet); `separate`: one independent U-Net per stage.' },
      network: { type: 'json', default: {}, doc: 'Constructor arguments with the official names (img_resolution, channel_mult, num_blocks, model_channels / en_model_channels, de_model_channels, ...; see docs/models.md). `img_resolution` and `img_channels` default to the data.' },
      stageBoundaries: { type: 'numbers', nullable: true, default: null, doc: 'Stage boundaries, increasing, in `stageUnits` (the paper\'s CIFAR-10 values: sigma [2.5103, 7.6577], VP t [0.4420, 0.6308]). A multistage or separate model needs these or stagesFrom; a unified model may take them for its stage sampling alone (one network for every stage, e.g. `balanced` shares as a multistage run draws them).' },
      stageUnits: { type: 'string', enum: ['sigma', 'vp-t', 'step'], default: 'sigma', doc: 'Units of stageBoundaries: EDM sigma, VP time t (beta 0.1..20), or a step of the 1000-step discrete DDPM schedule.' },
      stagesFrom: { type: 'string', nullable: true, default: null, doc: 'A partition.json written by `stagediff cluster`; overrides stageBoundaries.' },
    },
  },
  formulation: {
    type: 'object',
    doc: 'How noise levels are drawn and the loss computed.',
    fields: {
      kind: { type: 'string', enum: ['edm', 'vp'], default: 'edm', doc: '`edm`: Karras et al. (EDMPrecond, log-normal sigma, weighted denoising loss); `vp`: score-SDE / DPM-Solver (epsilon prediction, t uniform).' },
      sigmaData: { type: 'number', min: 0, exclusiveMin: true, default: 0.5, doc: 'EDM: standard deviation of the data.' },
      pMean: { type: 'number', default: -1.2, doc: 'EDM: mean of ln sigma during training.' },
      pStd: { type: 'number', min: 0, exclusiveMin: true, default: 1.2, doc: 'EDM: standard deviation of ln sigma during training.' },
      betaMin: { type: 'number', min: 0, exclusiveMin: true, default: 0.1, doc: 'VP: beta(0).' },
      betaMax: { type: 'number', min: 0, exclusiveMin: true, default: 20, doc: 'VP: beta(1).' },
      tMin: { type: 'number', min: 0, exclusiveMin: true, max: 0.5, default: 1e-5, doc: 'VP: smallest training time t.' },
    },
  },
  training: {
    type: 'object',
    doc: 'Optimisation.',
    fields: {
      totalImages: { type: 'integer', min: 1, default: 200_000_000, doc: 'Training length in images (EDM CIFAR-10: 200M).' },
      batchSize: { type: 'integer', min: 1, default: 512, doc: 'Images per optimizer step.' },
      microBatch: { type: 'integer', min: 1, nullable: true, default: null, doc: 'Images per forward/backward pass (gradient accumulation); null = batchSize. Must divide batchSize.' },
      lr: { type: 'number', min: 0, exclusiveMin: true, default: 1e-3, doc: 'Peak learning rate.' },
      lrRampUpImages: { type: 'integer', min: 0, default: 10_000_000, doc: "EDM's linear LR ramp-up over this many images; 0 = none." },
      warmupSteps: { type: 'integer', min: 0, default: 0, doc: "score-SDE's linear LR warm-up over this many steps; 0 = none." },
      gradClip: { type: 'number', min: 0, exclusiveMin: true, nullable: true, default: null, doc: 'Clip the global gradient norm to this value; null = no clipping.' },
      gradientBucketMiB: { type: 'number', min: 0, exclusiveMin: true, default: 25, doc: "Several GPUs: the gradients are summed over the GPUs in buckets of about this many MiB, each started as soon as backward has made its gradients final, while backward goes on (PyTorch DDP's bucket_cap_mb)." },
      adam: {
        type: 'object',
        doc: 'Adam (AdamW when weightDecay > 0).',
        fields: {
          beta1: { type: 'number', min: 0, max: 0.999999, default: 0.9, doc: 'First-moment decay.' },
          beta2: { type: 'number', min: 0, max: 0.999999, default: 0.999, doc: 'Second-moment decay.' },
          eps: { type: 'number', min: 0, exclusiveMin: true, default: 1e-8, doc: 'Denominator epsilon.' },
          weightDecay: { type: 'number', min: 0, default: 0, doc: 'Decoupled weight decay.' },
        },
      },
      stageSampling: { type: 'string', enum: ALL_STAGE_SAMPLING_KINDS, default: 'edm-marginal', doc: 'How noise levels spread over stages: `edm-marginal` (official EDM), `uniform` (official DPM-Solver), `per-sample`, `balanced`, `balanced-batch`, `rank` (several GPUs: rank r trains stage r mod K, as the LDM code; see docs/training.md).' },
      stageShares: { type: 'numbers', nullable: true, default: null, doc: '`balanced`: share of each batch per stage; `balanced-batch`: probability of each stage per micro-batch (normalised); null = equal.' },
      sharedDecoderImages: { type: 'integer', min: 0, default: 0, doc: 'Multistage: for this many images the stages whose decoder has stage 0\'s width train decoder 0, then each such decoder starts from its weights, Adam moments and EMA (see docs/training.md); 0 = off. Fixed for a run (not changeable on resume).' },
      sharedDecoderMoments: { type: 'string', enum: ['copy', 'fresh'], default: 'copy', doc: 'With sharedDecoderImages: at the switch each decoder takes decoder 0\'s Adam moments and step counts (`copy`), or starts Adam afresh (`fresh`: its gradients are a few samples\' at small importance weights, far below what decoder 0\'s moments expect, so copied moments shrink its first steps). Fixed for a run.' },
      augment: { type: 'number', min: 0, max: 1, nullable: true, default: null, doc: "EDM's augmentation pipeline with this probability (EDM's CIFAR-10: 0.12): x-flips, y-flips, scaling, rotation, anisotropy, translation, with their 9 labels fed to the network (model.network.augment_dim 9); replaces data.flip. null = off (see docs/training.md)." },
      ema: {
        type: 'object',
        doc: 'Exponential moving average of the weights (used for sampling).',
        fields: {
          kind: { type: 'string', enum: ['halflife', 'constant'], default: 'halflife', doc: "`halflife` (EDM) or `constant` decay per step (score-SDE)." },
          halfLifeImages: { type: 'integer', min: 1, default: 500_000, doc: 'Half-life in images.' },
          rampUpRatio: { type: 'number', min: 0, exclusiveMin: true, nullable: true, default: 0.05, doc: 'Half-life at most this fraction of the images seen; null = off.' },
          decay: { type: 'number', min: 0, max: 0.999999999, default: 0.9999, doc: '`constant`: decay per step.' },
        },
      },
      cudaGraphs: { type: 'string', enum: ['off', 'auto', 'on'], default: 'auto', doc: "Replay each micro-batch's forward and backward from a CUDA graph captured once per batch composition (after one eager run of it; its first two replays checked against eager runs): far fewer host-side launches (the quickstart on an H200: 2,100 instead of 560 images/s). Steps it cannot replay (several GPUs, class labels, unsorted mixed-stage batches) run eagerly; `on` says so once, `auto` does not. A capture or check that fails turns graphs off for the run with one warning. CUDA only." },
      channelsLast: { type: 'boolean', default: false, doc: "Run the network's activations channels last (NHWC) inside: cuDNN's NHWC convolutions are 1.3-1.5x faster than NCHW on an H200 in bf16. Weights, checkpoints and results are the same either way (up to float rounding; with dropout, the masks fall on other elements, equally likely). Opt-in until measured end to end; on the CPU it runs through transposes (a reference, several times slower). See docs/training.md." },
    },
  },
  output: {
    type: 'object',
    doc: 'Logs, checkpoints and sample grids.',
    fields: {
      logEveryImages: { type: 'integer', min: 1, default: 100_000, doc: 'Write a log.jsonl line (loss per stage, images/s) this often.' },
      checkpointEveryImages: { type: 'integer', min: 1, default: 5_000_000, doc: 'Write a checkpoint this often (and at the end).' },
      checkpointEveryMinutes: { type: 'number', min: 0, exclusiveMin: true, nullable: true, default: null, doc: 'Also write a checkpoint each time the training time (grid and checkpoint writing left out) passes a multiple of this many minutes; null = off. For measurements at set training times (scripts/gpu-race.sh).' },
      snapshotEveryImages: { type: 'integer', min: 1, default: 5_000_000, doc: 'Write a sample grid of the EMA weights this often (and at the end).' },
      keepCheckpoints: { type: 'integer', min: 1, default: 3, doc: 'Checkpoints kept; older ones are deleted after a newer one is safely written.' },
      grid: {
        type: 'object',
        doc: 'Sample grids.',
        fields: {
          count: { type: 'integer', min: 1, default: 64, doc: 'Images per grid.' },
          steps: { type: 'integer', min: 1, default: 18, doc: 'EDM Heun steps (2 * steps - 1 network evaluations).' },
          seed: { type: 'integer', min: 0, default: 1, doc: 'Seed of the grid noise (the same images every snapshot).' },
        },
      },
    },
  },
};

/** Validates a (partial) config, fills defaults and checks the relations between fields. */
export function resolveTrainConfig(raw: unknown): TrainConfig {
  const c = validateObject('', raw ?? {}, TRAIN_CONFIG_SCHEMA) as unknown as TrainConfig;
  const t = c.training;
  if (t.microBatch !== null && t.batchSize % t.microBatch !== 0) throw new Error(`training.microBatch (${t.microBatch}) must divide training.batchSize (${t.batchSize})`);
  if (c.data.source !== 'shapes' && !c.data.path) throw new Error(`data.path is required for data.source "${c.data.source}"`);
  if (c.data.source === 'shapes' && c.data.path) throw new Error(`data.path (${c.data.path}) is set but data.source is "shapes", the built-in data that reads no files: set data.source to cifar10, mnist or folder (--set data.source=cifar10), or leave out data.path`);
  // No default: the paper's values belong to CIFAR-10 and its units, not to every data set.
  if (c.model.kind !== 'unified' && !c.model.stageBoundaries && !c.model.stagesFrom) {
    throw new Error(
      `a ${c.model.kind} model needs its stage boundaries: model.stagesFrom (a partition.json from \`stagediff cluster --out FILE\`, or --stages-from FILE) ` +
        `or model.stageBoundaries in model.stageUnits (the paper's CIFAR-10 values: sigma ${PAPER_CIFAR10_BOUNDARIES.sigma.join(', ')}; VP t ${PAPER_CIFAR10_BOUNDARIES.vpT.join(', ')})`,
    );
  }
  if (c.formulation.betaMax <= c.formulation.betaMin) throw new Error(`formulation.betaMax (${c.formulation.betaMax}) must exceed betaMin (${c.formulation.betaMin})`);
  return c;
}

const DDPMPP = { augment_dim: 9, dropout: 0.13, embedding_type: 'positional', encoder_type: 'standard', decoder_type: 'standard', channel_mult_noise: 1, resample_filter: [1, 1], channel_mult: [2, 2, 2], num_blocks: 4, attn_resolutions: [16] };
const NCSNPP_DEEP = { augment_dim: 0, dropout: 0.1, embedding_type: 'positional', encoder_type: 'residual', decoder_type: 'standard', channel_mult_noise: 1, resample_filter: [1, 3, 3, 1], channel_mult: [1, 2, 2, 2], num_blocks: 8, attn_resolutions: [16] };
const EDM_TRAINING = { totalImages: 200_000_000, batchSize: 512, lr: 1e-3, lrRampUpImages: 10_000_000, stageSampling: 'edm-marginal', ema: { kind: 'halflife', halfLifeImages: 500_000, rampUpRatio: 0.05 } };
const VP_TRAINING = { totalImages: 450_000 * 128, batchSize: 128, lr: 2e-4, lrRampUpImages: 0, warmupSteps: 5000, gradClip: 1, stageSampling: 'uniform', ema: { kind: 'constant', decay: 0.9999 } };
/** Presets: the paper's setups on CIFAR-10 and a quickstart that trains in minutes on a CPU. */
export const TRAIN_PRESETS: Readonly<Record<string, { doc: string; config: Record<string, unknown> }>> = {
  quickstart: {
    doc: 'A small multistage model on the built-in 16x16 shapes, 40k training images; about 5 minutes on a 2-core CPU.',
    config: {
      runDir: 'runs/quickstart',
      data: { source: 'shapes', resolution: 16, count: 4096 },
      model: {
        kind: 'multistage',
        network: { augment_dim: 0, dropout: 0, channel_mult: [1, 1, 1], num_blocks: 1, attn_resolutions: [], en_model_channels: 16, de_model_channels: [16, 16, 8] },
        stageBoundaries: [...PAPER_CIFAR10_BOUNDARIES.sigma],
      },
      // Noise levels centred higher than EDM's (ln sigma ~ N(-0.4, 1.2) rather than N(-1.2, 1.2)): on 16x16
      // shapes the outline and the colour are decided at sigma ~ 0.5-3, which a short run must learn first.
      formulation: { pMean: -0.4 },
      // Balanced stage sampling: every decoder trains every step, half of each batch near the data. A short
      // run: a higher learning rate with a short ramp, Adam's second moment over ~100 steps, a short EMA.
      training: {
        totalImages: 40_000,
        batchSize: 16,
        lr: 3e-3,
        lrRampUpImages: 1000,
        adam: { beta2: 0.99 },
        stageSampling: 'balanced',
        stageShares: [0.5, 0.35, 0.15],
        ema: { kind: 'halflife', halfLifeImages: 2000, rampUpRatio: 0.1 },
      },
      output: { logEveryImages: 4000, checkpointEveryImages: 20_000, snapshotEveryImages: 40_000, grid: { count: 36, steps: 18, seed: 1 } },
    },
  },
  'cifar10-edm-ddpmpp': {
    doc: "EDM's DDPM++ on CIFAR-10 (the paper's EDM baseline), 55.7M parameters.",
    config: { runDir: 'runs/cifar10-edm-ddpmpp', data: { source: 'cifar10', path: 'data/cifar10' }, model: { kind: 'unified', network: { ...DDPMPP, model_channels: 128 } }, training: EDM_TRAINING },
  },
  'cifar10-edm-multistage': {
    doc: 'The multistage network as stagediff trains it on CIFAR-10 (docs/training.md: the recipe that won the race of docs/results.md): shared 128-wide encoder, three 128-wide decoders trained as one for the first 240k images and then split, stages sampled 0.9 / 0.07 / 0.03 (balanced), sigma boundaries 2.5103 / 7.6577.',
    config: {
      runDir: 'runs/cifar10-edm-multistage',
      data: { source: 'cifar10', path: 'data/cifar10' },
      model: { kind: 'multistage', network: { ...DDPMPP, en_model_channels: 128, de_model_channels: [128, 128, 128] }, stageBoundaries: [...PAPER_CIFAR10_BOUNDARIES.sigma] },
      // The paper's tailored widths (192 / 128 / 16) and the official code's stage rule lost to DDPM++ at
      // every short budget; one decoder for the first images (as unified trains) then one per stage, with
      // most samples near the data where the FD is decided, won at 2 and 4 minutes (docs/results.md).
      training: { ...EDM_TRAINING, stageSampling: 'balanced', stageShares: [0.9, 0.07, 0.03], sharedDecoderImages: 240_000 },
    },
  },
  'cifar10-edm-multistage-paper': {
    doc: "The paper's EDM multistage network on CIFAR-10 as the official code trains it: shared 128-wide encoder, decoders 192/128/16, stages drawn from EDM's noise distribution (edm-marginal), sigma boundaries 2.5103 / 7.6577.",
    config: {
      runDir: 'runs/cifar10-edm-multistage-paper',
      data: { source: 'cifar10', path: 'data/cifar10' },
      model: { kind: 'multistage', network: { ...DDPMPP, en_model_channels: 128, de_model_channels: [192, 128, 16] }, stageBoundaries: [...PAPER_CIFAR10_BOUNDARIES.sigma] },
      training: EDM_TRAINING,
    },
  },
  'cifar10-vp-unified': {
    doc: "The paper's DPM-Solver baseline expressed with SongUNet's NCSN++-style options (residual encoder, [1,3,3,1] resampling, 8 blocks).",
    config: { runDir: 'runs/cifar10-vp-unified', data: { source: 'cifar10', path: 'data/cifar10' }, model: { kind: 'unified', network: { ...NCSNPP_DEEP, model_channels: 128 } }, formulation: { kind: 'vp' }, training: VP_TRAINING },
  },
  'cifar10-vp-multistage': {
    doc: "The paper's DPM-Solver multistage setup: encoder 128, decoders 192/128/16, VP t boundaries 0.4420 / 0.6308.",
    config: {
      runDir: 'runs/cifar10-vp-multistage',
      data: { source: 'cifar10', path: 'data/cifar10' },
      model: { kind: 'multistage', network: { ...NCSNPP_DEEP, en_model_channels: 128, de_model_channels: [192, 128, 16] }, stageBoundaries: [...PAPER_CIFAR10_BOUNDARIES.vpT], stageUnits: 'vp-t' },
      formulation: { kind: 'vp' },
      training: VP_TRAINING,
    },
  },
};

export function presetConfig(name: string): Record<string, unknown> {
  const p = TRAIN_PRESETS[name];
  if (!p) throw new Error(`unknown preset "${name}"; presets: ${Object.keys(TRAIN_PRESETS).join(', ')}`);
  return mergeConfig({}, p.config) as Record<string, unknown>;
}

/** docs/config.md, generated from the schema and the presets. */
export function configReference(): string {
  return [
    '# Training configuration',
    '',
    '`stagediff train --config FILE.json` (or `--preset NAME`) reads a JSON object with the fields below; every field',
    'is optional and takes its default. `--set a.b=value` overrides one field (the value parsed as JSON when it can be);',
    'a network option set to `null` is not given (`--set model.network.de_model_channels=null` drops a preset\'s).',
    'Unknown fields and values of the wrong type or range are rejected with the field\'s dotted name.',
    'This page is generated from the schema in src/train/config.ts (`node dist/scripts/gen-config-doc.js`).',
    '',
    '| field | type | default | meaning |',
    '|---|---|---|---|',
    ...documentSchema(TRAIN_CONFIG_SCHEMA),
    '',
    '## Presets',
    '',
    ...Object.entries(TRAIN_PRESETS).map(([name, p]) => `- \`${name}\`: ${p.doc}`),
    '',
  ].join('\n');
}
