/**
 * Builds a preconditioned network from a JSON config written with the official constructor argument
 * names (EDMPrecond's and the U-Net's keyword arguments in one `network` object, as EDM's training
 * options pass them), so a config from the PyTorch code builds the same network here.
 */
import type { InitSource } from '../nn/init.js';
import { EDMPrecond } from './edm-precond.js';
import { MultistageUNet } from './multistage-unet.js';
import { SongUNet } from './song-unet.js';
import { SeparateUNets } from './separate-unets.js';
import { StagePartition } from '../stages/stage-partition.js';
import type { NoiseLabelNetwork } from './unet-trunk.js';
import type { UNetOptions } from './unet-options.js';

export type { NoiseLabelNetwork };

export interface NetworkConfig {
  network: Record<string, unknown>;
  /** A MultistageUNet's stage boundaries in sigma (default: the paper's 2.5103, 7.6577). */
  stage_sigma_boundaries?: number[];
}

type Kind = 'integer' | 'number' | 'boolean' | 'string' | 'integers' | 'numbers';

/** EDMPrecond's own arguments, by official name. */
const PRECOND_KEYS: Record<string, Kind> = { use_fp16: 'boolean', sigma_min: 'number', sigma_max: 'number', sigma_data: 'number' };
/** Arguments every U-Net takes (EDMPrecond passes them on). */
const COMMON_KEYS: Record<string, Kind> = { model_type: 'string', img_resolution: 'integer', img_channels: 'integer', label_dim: 'integer' };
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
  /** Not an official class: the paper's "separate" arm, one SongUNet per stage of these widths. */
  SeparateUNets: { stage_model_channels: 'integers' },
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

function checkKeys(net: Record<string, unknown>, known: Record<string, Kind>, what: string): void {
  for (const [key, value] of Object.entries(net)) {
    if (!(key in known)) throw new Error(`network.${key} is not an option of ${what} (known: ${Object.keys(known).join(', ')}); a preset's field is dropped by setting it to null (--set model.network.${key}=null)`);
    checkKind(key, value, known[key]);
  }
}

/** The bare U-Net (SongUNet or MultistageUNet) of a config whose `network` holds only U-Net arguments. */
export function unetFromConfig(config: NetworkConfig, source: InitSource): NoiseLabelNetwork {
  if (typeof config.network !== 'object' || config.network === null) throw new Error('network config needs a "network" object');
  // null means not given: how a config or --set drops a preset's field (e.g. a multistage preset's
  // de_model_channels when it trains model.kind "separate")
  const net = Object.fromEntries(Object.entries(config.network).filter(([, v]) => v !== null));
  const modelType = net.model_type;
  const modelKeys = MODEL_KEYS[modelType as string];
  if (!modelKeys) throw new Error(`network.model_type must be one of ${Object.keys(MODEL_KEYS).join(', ')}, got ${JSON.stringify(modelType)}`);
  checkKeys(net, { ...COMMON_KEYS, ...Object.fromEntries(Object.entries(UNET_KEYS).map(([k, [, kind]]) => [k, kind])), ...modelKeys }, modelType as string);
  for (const key of ['img_resolution', 'img_channels']) if (net[key] === undefined) throw new Error(`network.${key} is required`);

  const options: UNetOptions = {
    imgResolution: net.img_resolution as number,
    inChannels: net.img_channels as number,
    outChannels: net.img_channels as number,
    labelDim: net.label_dim as number | undefined,
  };
  for (const [key, [name]] of Object.entries(UNET_KEYS)) if (net[key] !== undefined) (options as unknown as Record<string, unknown>)[name] = net[key];
  if (modelType === 'SongUNet') return new SongUNet({ ...options, modelChannels: net.model_channels as number | undefined }, source);
  const partition = config.stage_sigma_boundaries ? new StagePartition(config.stage_sigma_boundaries) : undefined;
  if (modelType === 'SeparateUNets') {
    if (!partition || !net.stage_model_channels) throw new Error('SeparateUNets needs network.stage_model_channels (one width per stage) and stage_sigma_boundaries');
    return new SeparateUNets({ ...options, modelChannels: net.stage_model_channels as number[], partition }, source);
  }
  return new MultistageUNet(
    {
      ...options,
      enModelChannels: net.en_model_channels as number | undefined,
      deModelChannels: net.de_model_channels as number[] | undefined,
      partition,
    },
    source,
  );
}

/** EDM's preconditioned denoiser D(x; sigma) around the config's U-Net. */
export function networkFromConfig(config: NetworkConfig, source: InitSource): EDMPrecond {
  const { use_fp16, sigma_min, sigma_max, sigma_data, ...unet } = config.network ?? {};
  const precond = Object.fromEntries(Object.entries({ use_fp16, sigma_min, sigma_max, sigma_data }).filter(([, v]) => v !== undefined));
  checkKeys(precond, PRECOND_KEYS, 'EDMPrecond');
  if (use_fp16 === true) throw new Error('network.use_fp16 is not supported: precision is a backend setting here');
  return new EDMPrecond(unetFromConfig({ ...config, network: unet }, source), {
    sigmaData: sigma_data as number | undefined,
    sigmaMin: sigma_min as number | undefined,
    sigmaMax: sigma_max as number | undefined,
  });
}
