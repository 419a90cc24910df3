import { ModuleDict } from '../nn/containers.js';
import { Conv2d } from '../nn/conv2d.js';
import { GroupNorm } from '../nn/group-norm.js';
import type { InitSource } from '../nn/init.js';
import { UNetBlock } from '../nn/unet-block.js';
import { tidy } from '../tensor/engine.js';
import { add, channelAxis, concat } from '../tensor/ops/index.js';
import type { Generator } from '../tensor/random.js';
import type { Tensor } from '../tensor/tensor.js';
import { type ResolvedUNetOptions, songBlockOptions } from './unet-options.js';

/**
 * SongUNet's decoder (`dec`), including the two bottleneck blocks at the lowest resolution (`*_in0`
 * with attention, `*_in1`): per resolution an upsampling block (below the lowest), then numBlocks + 1
 * blocks that each take one encoder skip concatenated to their input, and at the output (at every level
 * for the 'skip' decoder) a norm + conv to image channels. Its base width is its own, so the multistage
 * U-Net sizes each stage's decoder independently of the shared encoder.
 */
export class UNetDecoder extends ModuleDict<UNetBlock | Conv2d | GroupNorm> {
  constructor(o: ResolvedUNetOptions, modelChannels: number, embChannels: number, encoder: { outChannels: number; skipChannels: readonly number[] }, source: InitSource) {
    super();
    const block = songBlockOptions(o);
    const skips = [...encoder.skipChannels];
    const last = o.channelMult.length - 1;
    let cout = encoder.outChannels;
    for (let level = last; level >= 0; level--) {
      const res = o.imgResolution >> level;
      const at = `${res}x${res}`;
      if (level === last) {
        this.set(`${at}_in0`, new UNetBlock(cout, cout, embChannels, { ...block, attention: true }, source));
        this.set(`${at}_in1`, new UNetBlock(cout, cout, embChannels, block, source));
      } else {
        this.set(`${at}_up`, new UNetBlock(cout, cout, embChannels, { ...block, up: true }, source));
      }
      for (let idx = 0; idx <= o.numBlocks; idx++) {
        const cin = cout + skips.pop()!;
        cout = modelChannels * o.channelMult[level];
        const attention = idx === o.numBlocks && o.attnResolutions.includes(res);
        this.set(`${at}_block${idx}`, new UNetBlock(cin, cout, embChannels, { ...block, attention }, source));
      }
      if (o.decoderType === 'skip' || level === 0) {
        if (o.decoderType === 'skip' && level < last) {
          this.set(`${at}_aux_up`, new Conv2d(o.outChannels, o.outChannels, 0, { up: true, resampleFilter: o.resampleFilter }, source));
        }
        this.set(`${at}_aux_norm`, new GroupNorm(cout, { numGroups: o.numGroups, eps: 1e-6 }));
        this.set(`${at}_aux_conv`, new Conv2d(cout, o.outChannels, 3, { init: block.initZero }, source));
      }
    }
  }

  /**
   * x: the encoder's output; skips: the encoder's skips (not modified). Returns the image-channel output;
   * every block output and concatenation is freed as it returns, except what the tape saved.
   */
  forward(x: Tensor, skips: readonly Tensor[], emb: Tensor, generator?: Generator): Tensor {
    return tidy(() => {
      const pending = [...skips];
      let aux: Tensor | null = null;
      let tmp: Tensor | null = null;
      for (const [name, block] of this.entries()) {
        if (name.includes('aux_up')) {
          aux = (block as Conv2d).forward(aux!);
        } else if (name.includes('aux_norm')) {
          tmp = (block as GroupNorm).forward(x, true);
        } else if (name.includes('aux_conv')) {
          tmp = (block as Conv2d).forward(tmp!);
          aux = aux ? add(tmp, aux) : tmp;
        } else {
          const b = block as UNetBlock;
          const axis = channelAxis(this.channelsLast);
          if (x.shape[axis] !== b.inChannels) x = concat([x, pending.pop()!], axis);
          x = b.forward(x, emb, generator);
        }
      }
      return aux!;
    });
  }
}
