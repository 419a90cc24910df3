import type { InitSource } from '../nn/init.js';
import { tidy } from '../tensor/engine.js';
import { fromLayout, toLayout } from '../tensor/ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { UNetDecoder } from './unet-decoder.js';
import { type UNetOptions, resolveUNetOptions } from './unet-options.js';
import { type UNetInputs, UNetTrunk } from './unet-trunk.js';

export interface SongUNetOptions extends UNetOptions {
  /** Base channel width (default 128). */
  modelChannels?: number;
}

/**
 * EDM's SongUNet: the DDPM++ and NCSN++ architectures of score-SDE in one class, a U-Net with a noise
 * mapping network, an encoder (`enc`) and one decoder (`dec`).
 */
export class SongUNet extends UNetTrunk {
  readonly dec: UNetDecoder;

  constructor(options: SongUNetOptions, source: InitSource) {
    const { modelChannels = 128, ...rest } = options;
    const o = resolveUNetOptions(rest);
    super(o, modelChannels, source);
    this.dec = this.registerModule('dec', new UNetDecoder(o, modelChannels, this.embChannels, this.enc, source));
  }

  /**
   * x and the result are NCHW in either layout (channels last transposes once on the way in and once on
   * the way out). Frees the embedding and the encoder's outputs as it returns, except what the tape saved.
   */
  forward(x: Tensor, noiseLabels: Tensor, inputs: UNetInputs = {}): Tensor {
    return tidy(() => {
      const emb = this.embed(noiseLabels, x.shape[0], inputs);
      const { x: h, skips } = this.enc.forward(toLayout(x, this.channelsLast), emb, inputs.generator);
      return fromLayout(this.dec.forward(h, skips, emb, inputs.generator), this.channelsLast);
    });
  }
}
