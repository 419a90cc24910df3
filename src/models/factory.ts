/**
 * Builds a preconditioned network from a JSON config written with the official constructor argument
 * names (EDMPrecond's and the U-Net's keyword arguments in one `network` object, as EDM's training
 * options pass them), so a config from the PyTorch code builds the same network here.
 */
import type { InitSource } from '../nn/init.js';
import { EDMPrecond } from './edm-precond.js';
import { MultistageUNet } from './multistage-unet.js';
import { SongUNet } from './song-unet.js';
import { StagePartition } from './stage-partition.js';
import type { UNetOptions } from './unet-options.js';

export interface NetworkConfig {
  network: Record<string, unknown>;
  /** A MultistageUNet's stage boundaries in sigma (default: the paper's 2.5103, 7.6577). */
  stage_sigma_boundaries?: number[];
}

type Kind = 'integer' | 'number' | 'boolean' | 'string' | 'integers' | 'numbers';

/** EDMPrecond's arguments, by official name. */
const PRECOND_KEYS: Record<string, Kind> = {
  model_type: 'string', img_resolution: 'integer', img_channels: 'integer', label_dim: 'integer',
  use_fp16: 'boolean', sigma_min: 'number', sigma_max: 'number', sigma_data: 'number',
};
/** The U-Net arguments both models share: official name -> [option name here, JSON type]. */
const UNET_KEYS: Record<string, [keyof UNetOptions, Kind]> = {
  augment_dim: ['augmentDim', 'integer'],
  channel_mult: ['channelMult', 'integers'],
  channel_mult_emb: ['channelMultEmb', 'integer'],
  num_blocks: ['numBlocks', 'integer'],
  attn_resolutions: ['attnResolutions', 'integers'],
  dropout: ['dropout', 'number'],
  label_dropout: ['labelDropout', 'number'],
  embedding_type: ['embeddingType', 'string'],
  channel_mult_noise: ['channelMultNoise', 'integer'],
  encoder_type: ['encoderType', 'string'],
  decoder_type: ['decoderType', 'string'],
  resample_filter: ['resampleFilter', 'numbers'],
  // Not an official argument: the fork hard-codes 16, EDM 32 (for loading EDM's own checkpoints).
  num_groups: ['numGroups', 'integer'],
};
const MODEL_KEYS: Record<string, Record<string, Kind>> = {
  SongUNet: { model_channels: 'integer' },
  MultistageUNet: { en_model_channels: 'integer', de_model_channels: 'integers' },
};

function checkKind(key: string, value: unknown, kind: Kind): void {
  const ok =
    kind === 'integer' ? Number.isInteger(value)
    : kind === 'number' ? typeof value === 'number'
    : kind === 'boolean' ? typeof value === 'boolean'
    : kind === 'string' ? typeof value === 'string'
    : Array.isArray(value) && value.every((v) => (kind === 'integers' ? Number.isInteger(v) : typeof v === 'number'));
  if (!ok) throw new Error(`network.${key} must be ${kind === 'integers' ? 'a list of integers' : kind === 'numbers' ? 'a list of numbers' : `a ${kind}`}, got ${JSON.stringify(value)}`);
}

export function networkFromConfig(config: NetworkConfig, source: InitSource): EDMPrecond {
  const net = config.network;
  if (typeof net !== 'object' || net === null) throw new Error('network config needs a "network" object');
  const modelType = net.model_type;
  const modelKeys = MODEL_KEYS[modelType as string];
  if (!modelKeys) throw new Error(`network.model_type must be one of ${Object.keys(MODEL_KEYS).join(', ')}, got ${JSON.stringify(modelType)}`);
  const known: Record<string, Kind> = { ...PRECOND_KEYS, ...Object.fromEntries(Object.entries(UNET_KEYS).map(([k, [, kind]]) => [k, kind])), ...modelKeys };
  for (const [key, value] of Object.entries(net)) {
    if (!(key in known)) throw new Error(`network.${key} is not an option of ${modelType} (known: ${Object.keys(known).join(', ')})`);
    checkKind(key, value, known[key]);
  }
  for (const key of ['img_resolution', 'img_channels']) if (net[key] === undefined) throw new Error(`network.${key} is required`);
  if (net.use_fp16 === true) throw new Error('network.use_fp16 is not supported: precision is a backend setting here');

  const options: UNetOptions = {
    imgResolution: net.img_resolution as number,
    inChannels: net.img_channels as number,
    outChannels: net.img_channels as number,
    labelDim: net.label_dim as number | undefined,
  };
  for (const [key, [name]] of Object.entries(UNET_KEYS)) if (net[key] !== undefined) (options as unknown as Record<string, unknown>)[name] = net[key];

  const model =
    modelType === 'SongUNet'
      ? new SongUNet({ ...options, modelChannels: net.model_channels as number | undefined }, source)
      : new MultistageUNet(
          {
            ...options,
            enModelChannels: net.en_model_channels as number | undefined,
            deModelChannels: net.de_model_channels as number[] | undefined,
            partition: config.stage_sigma_boundaries ? new StagePartition(config.stage_sigma_boundaries) : undefined,
          },
          source,
        );
  return new EDMPrecond(model, {
    sigmaData: net.sigma_data as number | undefined,
    sigmaMin: net.sigma_min as number | undefined,
    sigmaMax: net.sigma_max as number | undefined,
  });
}
