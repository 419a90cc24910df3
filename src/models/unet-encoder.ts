import { ModuleDict } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import type { InitSource } from '../nn/init.js';
import { UNetBlock } from '../nn/unet-block.js';
import { tidy } from '../tensor/engine.js';
import { add, mulScalar } from '../tensor/ops/index.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { type ResolvedUNetOptions, songBlockOptions } from './unet-options.js';

export interface EncoderOutput {
  /** The lowest-resolution activations, where the decoder starts. */
  x: Tensor;
  /** Every block's output, highest resolution first: the decoder's skip connections. */
  skips: Tensor[];
}

/**
 * SongUNet's encoder (`enc`): an input conv, then per resolution a downsampling block (from the second
 * level on) and `numBlocks` blocks. The 'skip' and 'residual' encoder types add an auxiliary path that
 * feeds the downsampled input image into each level (`*_aux_*`).
 */
export class UNetEncoder extends ModuleDict<Conv2d | UNetBlock> {
  /** Channels of the last block. */
  readonly outChannels: number;
  /** Channels of each skip connection, in the order the encoder produces them. */
  readonly skipChannels: readonly number[];

  constructor(o: ResolvedUNetOptions, modelChannels: number, embChannels: number, source: InitSource) {
    super();
    const block = songBlockOptions(o);
    const init = block.init;
    let cout = o.inChannels;
    let caux = o.inChannels;
    o.channelMult.forEach((mult, level) => {
      const res = o.imgResolution >> level;
      const at = `${res}x${res}`;
      if (level === 0) {
        const cin = cout;
        cout = modelChannels;
        this.set(`${at}_conv`, new Conv2d(cin, cout, 3, { init }, source));
      } else {
        this.set(`${at}_down`, new UNetBlock(cout, cout, embChannels, { ...block, down: true }, source));
        if (o.encoderType === 'skip') {
          this.set(`${at}_aux_down`, new Conv2d(caux, caux, 0, { down: true, resampleFilter: o.resampleFilter }, source));
          this.set(`${at}_aux_skip`, new Conv2d(caux, cout, 1, { init }, source));
        }
        if (o.encoderType === 'residual') {
          this.set(`${at}_aux_residual`, new Conv2d(caux, cout, 3, { down: true, resampleFilter: o.resampleFilter, fusedResample: true, init }, source));
          caux = cout;
        }
      }
      for (let idx = 0; idx < o.numBlocks; idx++) {
        const cin = cout;
        cout = modelChannels * mult;
        this.set(`${at}_block${idx}`, new UNetBlock(cin, cout, embChannels, { ...block, attention: o.attnResolutions.includes(res) }, source));
      }
    });
    this.outChannels = cout;
    this.skipChannels = this.entries()
      .filter(([name]) => !name.includes('aux'))
      .map(([, m]) => m.outChannels);
  }

  /** Frees its temporaries (the auxiliary path's, the outputs a skip path replaced) as it returns. */
  forward(x: Tensor, emb: Tensor, generator?: Generator): EncoderOutput {
    return tidy(() => {
      const skips: Tensor[] = [];
      let aux = x;
      for (const [name, block] of this.entries()) {
        if (name.includes('aux_down')) {
          aux = (block as Conv2d).forward(aux);
        } else if (name.includes('aux_skip')) {
          x = skips[skips.length - 1] = add(x, (block as Conv2d).forward(aux));
        } else if (name.includes('aux_residual')) {
          x = skips[skips.length - 1] = aux = mulScalar(add(x, (block as Conv2d).forward(aux)), Math.SQRT1_2);
        } else {
          x = block instanceof UNetBlock ? block.forward(x, emb, generator) : block.forward(x);
          skips.push(x);
        }
      }
      return { x, skips };
    });
  }
}
