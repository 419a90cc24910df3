/**
 * The paper's EDM networks for CIFAR-10 (32x32), as EDM's train.py builds them for `--arch=ddpmpp`
 * (augment_dim 9, dropout 0.13) and the paper's fork for the multistage network.
 */
import { PAPER_CIFAR10_BOUNDARIES } from '../stages/stage-partition.js';
import type { NetworkConfig } from './factory.js';

const DDPMPP_CIFAR10 = {
  img_resolution: 32,
  img_channels: 3,
  label_dim: 0,
  augment_dim: 9,
  dropout: 0.13,
  embedding_type: 'positional',
  encoder_type: 'standard',
  decoder_type: 'standard',
  channel_mult_noise: 1,
  resample_filter: [1, 1],
  channel_mult: [2, 2, 2],
};

export const NETWORK_PRESETS: Readonly<Record<string, NetworkConfig>> = {
  /** DDPM++ (EDM's SongUNet), 55.7M parameters. */
  'edm-ddpmpp-cifar10': { network: { ...DDPMPP_CIFAR10, model_type: 'SongUNet', model_channels: 128 } },
  /** Shared 128-wide encoder, decoders 192 / 128 / 16 wide for stages 0 / 1 / 2; 128.8M parameters. */
  'edm-multistage-cifar10': {
    network: { ...DDPMPP_CIFAR10, model_type: 'MultistageUNet', en_model_channels: 128, de_model_channels: [192, 128, 16] },
    stage_sigma_boundaries: [...PAPER_CIFAR10_BOUNDARIES.sigma],
  },
};
