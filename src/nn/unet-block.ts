import { tidy } from '../tensor/engine.js';
import { add, addScalar, attention, channelAxis, fromLayout, mul, mulScalar, narrow, reshape, silu, toLayout } from '../tensor/ops/index.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { Conv2d } from './conv2d.js';
import { Dropout } from './dropout.js';
import { GroupNorm } from './group-norm.js';
import type { InitSource, WeightInit } from './init.js';
import { Linear } from './linear.js';
import { Module } from './module.js';

export interface UNetBlockOptions {
  up?: boolean;
  down?: boolean;
  /** Self-attention after the residual part. */
  attention?: boolean;
  /** Attention heads; when omitted, outChannels / channelsPerHead. */
  numHeads?: number;
  channelsPerHead?: number;
  dropout?: number;
  /** Factor after each residual sum (sqrt(0.5) in DDPM++ and NCSN++ keeps the variance constant). */
  skipScale?: number;
  eps?: number;
  resampleFilter?: readonly number[];
  /** A 1x1 conv on the resampled skip path even when the channel count does not change. */
  resampleProj?: boolean;
  /** The embedding gives a scale and a shift of the normalised activations (ADM) rather than a shift (DDPM++). */
  adaptiveScale?: boolean;
  init?: WeightInit;
  /** Init of the convs that end a residual branch (conv1, proj), near zero so each block starts near identity. */
  initZero?: WeightInit;
  /** Init of the qkv conv; defaults to `init`. */
  initAttn?: WeightInit;
  /** GroupNorm's group count bound. */
  numGroups?: number;
}

/**
 * EDM's UNetBlock, the union of the DDPM++, NCSN++ and ADM residual blocks: norm, SiLU, conv (with
 * resampling), the noise embedding added (or scale-and-shift), norm, SiLU, dropout, conv, plus a skip
 * path; then optional single- or multi-head self-attention over the pixels.
 */
export class UNetBlock extends Module {
  readonly numHeads: number;
  readonly skipScale: number;
  readonly adaptiveScale: boolean;
  readonly norm0: GroupNorm;
  readonly conv0: Conv2d;
  readonly affine: Linear;
  readonly norm1: GroupNorm;
  readonly dropout: Dropout;
  readonly conv1: Conv2d;
  readonly skip: Conv2d | null = null;
  readonly norm2: GroupNorm | null = null;
  readonly qkv: Conv2d | null = null;
  readonly proj: Conv2d | null = null;

  constructor(readonly inChannels: number, readonly outChannels: number, readonly embChannels: number, options: UNetBlockOptions, source: InitSource) {
    super();
    const up = options.up ?? false;
    const down = options.down ?? false;
    const resampleFilter = options.resampleFilter ?? [1, 1];
    const init = options.init ?? {};
    const initZero = options.initZero ?? { weight: 0 };
    const norm = { numGroups: options.numGroups, eps: options.eps ?? 1e-5 };
    this.numHeads = !options.attention ? 0 : options.numHeads ?? Math.floor(outChannels / (options.channelsPerHead ?? 64));
    this.skipScale = options.skipScale ?? 1;
    this.adaptiveScale = options.adaptiveScale ?? true;

    this.norm0 = this.registerModule('norm0', new GroupNorm(inChannels, norm));
    this.conv0 = this.registerModule('conv0', new Conv2d(inChannels, outChannels, 3, { up, down, resampleFilter, init }, source));
    this.affine = this.registerModule('affine', new Linear(embChannels, outChannels * (this.adaptiveScale ? 2 : 1), { init }, source));
    this.norm1 = this.registerModule('norm1', new GroupNorm(outChannels, norm));
    this.dropout = this.registerModule('dropout', new Dropout(options.dropout ?? 0));
    this.conv1 = this.registerModule('conv1', new Conv2d(outChannels, outChannels, 3, { init: initZero }, source));
    if (outChannels !== inChannels || up || down) {
      const kernel = options.resampleProj || outChannels !== inChannels ? 1 : 0;
      this.skip = this.registerModule('skip', new Conv2d(inChannels, outChannels, kernel, { up, down, resampleFilter, init }, source));
    }
    if (this.numHeads) {
      this.norm2 = this.registerModule('norm2', new GroupNorm(outChannels, norm));
      this.qkv = this.registerModule('qkv', new Conv2d(outChannels, outChannels * 3, 1, { init: options.initAttn ?? init }, source));
      this.proj = this.registerModule('proj', new Conv2d(outChannels, outChannels, 1, { init: initZero }, source));
    }
  }

  /**
   * x [N, inChannels, H, W] (channels last [N, H, W, inChannels]), emb [N or 1, embChannels]; the generator
   * feeds dropout in training mode.
   */
  forward(x: Tensor, emb: Tensor, generator?: Generator): Tensor {
    // The block's temporaries are freed as it returns, except what the tape saved for backward: training
    // holds the activations backward reads, sampling one block's at a time.
    return tidy(() => {
      const channelsLast = this.channelsLast;
      const axis = channelAxis(channelsLast);
      let h = this.conv0.forward(this.norm0.forward(x, true));
      const params = reshape(this.affine.forward(emb), channelsLast ? [emb.shape[0], 1, 1, -1] : [emb.shape[0], -1, 1, 1]);
      if (this.adaptiveScale) {
        const scale = narrow(params, axis, 0, this.outChannels);
        const shift = narrow(params, axis, this.outChannels, this.outChannels);
        h = silu(add(shift, mul(this.norm1.forward(h), addScalar(scale, 1))));
      } else {
        h = this.norm1.forward(add(h, params), true);
      }
      h = this.conv1.forward(this.dropout.forward(h, generator));
      h = mulScalar(add(h, this.skip ? this.skip.forward(x) : x), this.skipScale);
      if (this.numHeads) {
        // One 1x1 conv gives q, k, v interleaved per channel, as EDM's reshape(N*heads, C/heads, 3, HW) reads
        // them; the attention op reads them in NCHW, so channels last transposes around it (16x16 and below).
        const qkv = fromLayout(this.qkv!.forward(this.norm2!.forward(h)), channelsLast);
        const a = toLayout(attention(qkv, this.numHeads), channelsLast);
        h = mulScalar(add(this.proj!.forward(a), h), this.skipScale);
      }
      return h;
    });
  }
}
