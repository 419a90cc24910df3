import type { Conv2dParams } from '../backend.js';

export function conv2d(x: Float32Array, w: Float32Array, bias: Float32Array | null, y: Float32Array, p: Conv2dParams): void {
  throw new Error('cpu conv2d: not implemented yet');
}
export function conv2dBackwardData(dy: Float32Array, w: Float32Array, dx: Float32Array, p: Conv2dParams): void {
  throw new Error('cpu conv2dBackwardData: not implemented yet');
}
export function conv2dBackwardFilter(x: Float32Array, dy: Float32Array, dw: Float32Array, p: Conv2dParams): void {
  throw new Error('cpu conv2dBackwardFilter: not implemented yet');
}
