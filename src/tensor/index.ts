export * from '../base/dtype.js';
export * from '../base/shape.js';
export * from './engine.js';
export * from './tensor.js';
export * from './ops/index.js';
export { type BackwardHooks, backward } from './autograd.js';
export { Generator, type GeneratorState } from './random.js';
