/** A trained model back from a checkpoint, for sampling and evaluation. */
import { StagePartition } from '../stages/stage-partition.js';
import { readCheckpoint, withPrefix } from './checkpoint.js';
import { type DiffusionModel, buildDiffusionModel } from './diffusion-model.js';
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
  model.net.train(false);
  return { model, state, path };
}
