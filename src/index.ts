/**
 * stagediff's library API: the same machinery the `stagediff` command uses, layer by layer.
 */
export * from './tensor/index.js';
export { type DeviceChoice, type Precision, PRECISIONS, isPrecision, useDevice } from './runtime/device.js';
export type { Backend, DeviceBuffer } from './backend/backend.js';
export { cpuBackend, cpuThreadCount, setCpuThreadCount } from './backend/cpu/index.js';
export { cudaBackend, probeCuda, type CudaBackend, type CudaOptions, type CudaProbe } from './backend/cuda/index.js';
export * from './nn/index.js';
export type { Conv2dOptions as Conv2dLayerOptions } from './nn/conv2d.js';
export * from './optim/index.js';
export * from './models/index.js';
export * from './diffusion/index.js';
export * from './stages/index.js';
export * from './plots/index.js';
export * from './report/index.js';
export * from './data/index.js';
export * from './train/index.js';
export * from './distributed/index.js';
export { type GenerateOptions, type GenerateSummary, type GeneratedBatch, generateImages } from './eval/generate.js';
export { type CostOptions, type CostTable, type StageCost, costPerStage, countMacs, formatCostTable, modelCost } from './eval/cost.js';
