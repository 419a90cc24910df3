import type { InitSource } from '../nn/init.js';
import { tidy } from '../tensor/engine.js';
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

  /** Frees the embedding and the encoder's outputs as it returns, except what the tape saved. */
  forward(x: Tensor, noiseLabels: Tensor, inputs: UNetInputs = {}): Tensor {
    return tidy(() => {
      const emb = this.embed(noiseLabels, x.shape[0], inputs);
      const { x: h, skips } = this.enc.forward(x, emb, inputs.generator);
      return this.dec.forward(h, skips, emb, inputs.generator);
    });
  }
}
