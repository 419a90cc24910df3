import { groupNorm } from '../tensor/ops/index.js';
import { type Tensor, ones, zeros } from '../tensor/tensor.js';
import { Module } from './module.js';
import type { Parameter } from './parameter.js';

export interface GroupNormOptions {
  /** Upper bound on the number of groups: 16 in the paper's fork of EDM (EDM itself: 32). */
  numGroups?: number;
  /** Narrow layers get fewer groups so each keeps at least this many channels (a 16-wide decoder: 4 groups). */
  minChannelsPerGroup?: number;
  eps?: number;
}

/** EDM's GroupNorm: min(numGroups, channels / minChannelsPerGroup) groups, per-channel weight and bias. */
export class GroupNorm extends Module {
  readonly weight: Parameter;
  readonly bias: Parameter;
  readonly numGroups: number;
  readonly eps: number;

  constructor(readonly numChannels: number, options: GroupNormOptions = {}) {
    super();
    this.numGroups = Math.min(options.numGroups ?? 16, Math.floor(numChannels / (options.minChannelsPerGroup ?? 4)));
    if (this.numGroups < 1 || numChannels % this.numGroups !== 0) throw new Error(`GroupNorm: ${numChannels} channels do not split into ${this.numGroups} groups`);
    this.eps = options.eps ?? 1e-5;
    this.weight = this.registerParameter('weight', ones([numChannels]));
    this.bias = this.registerParameter('bias', zeros([numChannels]));
  }

  /** With `silu`, SiLU of the result, in the same kernel. */
  forward(x: Tensor, silu = false): Tensor {
    return groupNorm(x, this.weight, this.bias, this.numGroups, this.eps, silu, this.channelsLast);
  }
}
