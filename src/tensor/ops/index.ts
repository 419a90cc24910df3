/**
 * Differentiable operations. Each computes its output through one backend kernel and records how to
 * compute its inputs' gradients (also through backend kernels). Ops are coarse where that is faster and
 * simpler to test: conv2d with bias, group_norm, attention, resampling.
 *
 * A backward reads only what its op saved (record's `saved`, handed back as views) and the shapes and
 * numbers it captured, never its inputs' storage: an input may have been disposed by the time backward runs.
 *
 * One file per family; autocast.ts holds the mixed-precision policy of conv2d and matmul.
 */
export * from './shape.js';
export * from './elementwise.js';
export * from './reductions.js';
export * from './linalg.js';
export * from './network.js';
export * from './inference.js';
