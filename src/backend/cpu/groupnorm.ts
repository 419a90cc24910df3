import type { GroupNormParams } from '../backend.js';

export function groupNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array, p: GroupNormParams): void {
  throw new Error('cpu groupNorm: not implemented yet');
}
export function groupNormBackward(x: Float32Array, gamma: Float32Array, mean: Float32Array, rstd: Float32Array, dy: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, p: GroupNormParams): void {
  throw new Error('cpu groupNormBackward: not implemented yet');
}
