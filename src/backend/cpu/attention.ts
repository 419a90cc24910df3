import type { AttentionParams } from '../backend.js';

export function attention(qkv: Float32Array, out: Float32Array, weights: Float32Array, p: AttentionParams): void {
  throw new Error('cpu attention: not implemented yet');
}
export function attentionBackward(qkv: Float32Array, weights: Float32Array, dout: Float32Array, dqkv: Float32Array, p: AttentionParams): void {
  throw new Error('cpu attentionBackward: not implemented yet');
}
