/** A trained model back from a checkpoint, for sampling and evaluation. */
import { StagePartition } from '../stages/stage-partition.js';
import { readCheckpoint, withPrefix } from './checkpoint.js';
import { type DiffusionModel, buildDiffusionModel } from './diffusion-model.js';
import { MultistageUNet } from '../models/multistage-unet.js';
import type { TrainingState } from './trainer.js';

export interface LoadedModel {
  model: DiffusionModel;
  state: TrainingState;
  path: string;
}

/** Rebuilds the checkpoint's architecture and loads its EMA (default) or raw training weights. */
export function loadModelFromCheckpoint(pathOrRunDir: string, weights: 'ema' | 'net' = 'ema'): LoadedModel {
  const { tensors, state, path } = readCheckpoint<TrainingState>(pathOrRunDir);
  const partition = StagePartition.fromJSON(state.partition);
  const model = buildDiffusionModel({ model: state.config.model, formulation: state.config.formulation, imageShape: state.imageShape }, partition, 'empty');
  try {
    model.net.loadStateDict(withPrefix(tensors, weights));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  if (state.decoderOf && model.unet instanceof MultistageUNet) routeAsTrained(model.unet, state.decoderOf, path);
  model.net.train(false);
  return { model, state, path };
}

/** Stages whose decoders were not trained yet (before training.sharedDecoderImages' switch) run decoder 0. */
function routeAsTrained(unet: MultistageUNet, decoderOf: readonly number[], path: string): void {
  const stages = unet.decoderOf.length;
  if (decoderOf.length !== stages || decoderOf.some((d) => !Number.isInteger(d) || d < 0 || d >= stages)) {
    throw new Error(`${path}: its decoderOf ${JSON.stringify(decoderOf)} does not route the network's ${stages} stages; the checkpoint is damaged`);
  }
  unet.decoderOf.splice(0, stages, ...decoderOf);
}
