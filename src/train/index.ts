export { type TrainConfig, TRAIN_CONFIG_SCHEMA, TRAIN_PRESETS, configReference, presetConfig, resolveTrainConfig } from './config.js';
export { Trainer, type LogEntry, type TrainEvents, type TrainOptions, type TrainResult, type TrainingState } from './trainer.js';
export { DiffusionModel, buildDiffusionModel, partitionFromConfig } from './diffusion-model.js';
export { StageSampler, STAGE_SAMPLING_KINDS, type StageSamplingKind, type NoiseBatch } from './stage-sampling.js';
export { type EmaSchedule, emaDecay, emaInitialShare, emaUpdate } from './ema.js';
export { type LrSchedule, learningRate } from './lr-schedule.js';
export { loadModelFromCheckpoint, type LoadedModel } from './load-model.js';
export { listCheckpoints, readCheckpoint } from './checkpoint.js';
