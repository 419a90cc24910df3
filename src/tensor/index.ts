export * from './dtype.js';
export * from './shape.js';
export * from './engine.js';
export * from './tensor.js';
export * from './ops.js';
export { backward } from './autograd.js';
export { Generator, type GeneratorState } from './random.js';
export { type DeviceChoice, type Precision, PRECISIONS, isPrecision, useDevice } from './device.js';
