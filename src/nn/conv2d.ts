import { tidy } from '../tensor/engine.js';
import { add, conv2d, reshape, resample } from '../tensor/ops/index.js';
import { type Tensor, fromArray } from '../tensor/tensor.js';
import { type InitSource, type WeightInit, weightInit } from './init.js';
import { Module } from './module.js';
import type { Parameter } from './parameter.js';

export interface Conv2dOptions {
  bias?: boolean;
  /** Upsample by 2 before the convolution (transposed depthwise FIR filter). */
  up?: boolean;
  /** Downsample by 2 before the convolution (strided depthwise FIR filter). */
  down?: boolean;
  /** The 1-D resampling filter, normalised: [1,1] (nearest up, 2x2 average down) or [1,3,3,1]. */
  resampleFilter?: readonly number[];
  /** Resample and convolve as one padded pair of ops (NCSN++'s residual encoder path); changes the border. */
  fusedResample?: boolean;
  init?: WeightInit;
}

/**
 * EDM's Conv2d: a square 'same' convolution with optional up/down-sampling by 2. kernel = 0 is pure
 * resampling (no weight, no bias). Resampling convs keep their 2-D filter f f^T / sum(f)^2 as the buffer
 * `resample_filter`, as EDM's state_dict has it.
 */
export class Conv2d extends Module {
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  readonly up: boolean;
  readonly down: boolean;
  readonly fusedResample: boolean;
  readonly resampleTaps: readonly number[];

  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernel: number, options: Conv2dOptions, source: InitSource) {
    super();
    this.up = options.up ?? false;
    this.down = options.down ?? false;
    if (this.up && this.down) throw new Error('Conv2d: up and down are exclusive');
    this.fusedResample = options.fusedResample ?? false;
    this.resampleTaps = Object.freeze([...(options.resampleFilter ?? [1, 1])]);
    const { mode = 'kaiming_normal', weight = 1, bias = 0 } = options.init ?? {};
    const fanIn = inChannels * kernel * kernel;
    const fanOut = outChannels * kernel * kernel;
    this.weight = kernel ? this.registerParameter('weight', weightInit([outChannels, inChannels, kernel, kernel], mode, fanIn, fanOut, weight, source)) : null;
    this.bias = kernel && (options.bias ?? true) ? this.registerParameter('bias', weightInit([outChannels], mode, fanIn, fanOut, bias, source)) : null;
    if (this.up || this.down) {
      const f = this.resampleTaps;
      const total = f.reduce((a, b) => a + b, 0);
      const filter = f.flatMap((a) => f.map((b) => (a * b) / (total * total)));
      this.registerBuffer('resample_filter', fromArray(filter, [1, 1, f.length, f.length]), { constant: true });
    }
  }

  /**
   * A resampling conv frees its intermediate (the resampled input, or the conv before the bias) as it
   * returns, unless the tape saved it.
   */
  forward(x: Tensor): Tensor {
    return tidy(() => {
      const w = this.weight;
      const taps = this.resampleTaps;
      const channelsLast = this.channelsLast;
      const wPad = w ? this.kernel >> 1 : 0;
      const fPad = (taps.length - 1) >> 1;
      if (this.fusedResample && this.up && w) {
        return conv2d(resample(x, 'up', taps, Math.max(fPad - wPad, 0), channelsLast), w, this.bias, { pad: Math.max(wPad - fPad, 0), channelsLast });
      }
      if (this.fusedResample && this.down && w) {
        const y = resample(conv2d(x, w, null, { pad: wPad + fPad, channelsLast }), 'down', taps, 0, channelsLast);
        return this.bias ? add(y, reshape(this.bias, channelsLast ? [1, 1, 1, -1] : [1, -1, 1, 1])) : y;
      }
      if (this.up) x = resample(x, 'up', taps, fPad, channelsLast);
      if (this.down) x = resample(x, 'down', taps, fPad, channelsLast);
      return w ? conv2d(x, w, this.bias, { pad: wPad, channelsLast }) : x;
    });
  }
}
