import { dropout } from '../tensor/ops/index.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/** Inverted dropout, active in training mode only. Its randomness comes from the caller's Generator. */
export class Dropout extends Module {
  constructor(readonly p: number) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout probability must be in [0, 1), got ${p}`);
  }

  forward(x: Tensor, generator?: Generator): Tensor {
    if (!this.training || this.p === 0) return x;
    if (!generator) throw new Error('Dropout in training mode needs a Generator (pass one to the forward call, or call eval())');
    return dropout(x, this.p, generator);
  }
}
