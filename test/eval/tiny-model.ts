/** A tiny multistage EDM model with random weights (8x8 RGB, three stages), for sampling and cost tests. */
import * as T from '../../src/tensor/index.js';
import { EDMPrecond, MultistageUNet } from '../../src/models/index.js';
import { StagePartition } from '../../src/stages/stage-partition.js';
import { randomizeParameters } from '../models/random-weights.js';

export const TINY_PARTITION = new StagePartition([1, 5]);

export function tinyMultistage(): { net: EDMPrecond; unet: MultistageUNet } {
  const unet = new MultistageUNet(
    {
      imgResolution: 8, inChannels: 3, outChannels: 3, channelMult: [1, 2], numBlocks: 1, attnResolutions: [4],
      dropout: 0, enModelChannels: 8, deModelChannels: [12, 8, 4], partition: TINY_PARTITION,
    },
    new T.Generator(1),
  );
  randomizeParameters(unet, 2);
  unet.train(false);
  return { net: new EDMPrecond(unet), unet };
}
