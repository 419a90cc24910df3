import type { ResampleParams } from '../backend.js';

export function resample(x: Float32Array, y: Float32Array, p: ResampleParams): void {
  throw new Error('cpu resample: not implemented yet');
}
export function resampleBackward(dy: Float32Array, dx: Float32Array, p: ResampleParams): void {
  throw new Error('cpu resampleBackward: not implemented yet');
}
