import { FourierEmbedding, PositionalEmbedding } from '../nn/embedding.js';
import type { InitSource } from '../nn/init.js';
import { Linear } from '../nn/linear.js';
import { Module } from '../nn/module.js';
import { add, concat, mul, mulScalar, narrow, silu } from '../tensor/ops/index.js';
import type { Generator } from '../tensor/random.js';
import { type Tensor, fromArray } from '../tensor/tensor.js';
import { UNetEncoder } from './unet-encoder.js';
import { type ResolvedUNetOptions, positiveInteger } from './unet-options.js';

/** What a U-Net's forward takes besides the image and the noise labels. */
export interface UNetInputs {
  /** [N or 1, labelDim] when labelDim > 0. */
  classLabels?: Tensor | null;
  /** [N, augmentDim]; omitted = no augmentation. */
  augmentLabels?: Tensor | null;
  /** Each sample's sigma (or one for all), on the host: decides its stage in a multistage U-Net. */
  sigma?: ArrayLike<number>;
  /** Randomness for dropout and label dropout in training mode. */
  generator?: Generator;
}

/** What a preconditioner wraps: F(x; noise labels), a module whose forward takes the inputs above. */
export interface NoiseLabelNetwork extends Module {
  readonly labelDim: number;
  forward(x: Tensor, noiseLabels: Tensor, inputs?: UNetInputs): Tensor;
}

/**
 * What SongUNet and MultistageUNet have in common and the multistage U-Net shares across stages: the
 * mapping network from noise label (plus class and augmentation labels) to the embedding every block
 * receives (`map_*`), and the encoder (`enc`). Subclasses add their decoder(s).
 */
export abstract class UNetTrunk extends Module implements NoiseLabelNetwork {
  readonly labelDim: number;
  readonly labelDropout: number;
  readonly mapNoise: PositionalEmbedding | FourierEmbedding;
  readonly mapLabel: Linear | null;
  readonly mapAugment: Linear | null;
  readonly mapLayer0: Linear;
  readonly mapLayer1: Linear;
  readonly enc: UNetEncoder;
  readonly embChannels: number;

  constructor(o: ResolvedUNetOptions, modelChannels: number, source: InitSource) {
    super();
    positiveInteger('model channels', modelChannels);
    this.labelDim = o.labelDim;
    this.labelDropout = o.labelDropout;
    this.embChannels = modelChannels * o.channelMultEmb;
    const noiseChannels = modelChannels * o.channelMultNoise;
    const init = { mode: 'xavier_uniform' } as const;
    this.mapNoise = this.registerModule(
      'map_noise',
      o.embeddingType === 'positional' ? new PositionalEmbedding(noiseChannels, { endpoint: true }) : new FourierEmbedding(noiseChannels, {}, source),
    );
    this.mapLabel = o.labelDim ? this.registerModule('map_label', new Linear(o.labelDim, noiseChannels, { init }, source)) : null;
    this.mapAugment = o.augmentDim ? this.registerModule('map_augment', new Linear(o.augmentDim, noiseChannels, { bias: false, init }, source)) : null;
    this.mapLayer0 = this.registerModule('map_layer0', new Linear(noiseChannels, this.embChannels, { init }, source));
    this.mapLayer1 = this.registerModule('map_layer1', new Linear(this.embChannels, this.embChannels, { init }, source));
    this.enc = this.registerModule('enc', new UNetEncoder(o, modelChannels, this.embChannels, source));
  }

  /** F(x; noise labels): x [N, inChannels, H, W], noiseLabels [N] (or [1]); returns [N, outChannels, H, W]. */
  abstract forward(x: Tensor, noiseLabels: Tensor, inputs?: UNetInputs): Tensor;

  /** The embedding [N, embChannels] of the noise labels, class labels and augmentation labels. */
  protected embed(noiseLabels: Tensor, batchSize: number, inputs: UNetInputs): Tensor {
    let emb = this.mapNoise.forward(noiseLabels);
    // EDM's code swaps the two halves, [cos | sin] -> [sin | cos]; trained weights depend on it.
    const half = emb.shape[1] >> 1;
    emb = concat([narrow(emb, 1, half, half), narrow(emb, 1, 0, half)], 1);
    if (this.mapLabel) {
      if (!inputs.classLabels) throw new Error(`this U-Net is class-conditional (labelDim ${this.labelDim}): pass classLabels`);
      let labels = inputs.classLabels;
      if (this.training && this.labelDropout) {
        if (!inputs.generator) throw new Error('label dropout in training mode needs a Generator');
        const u = inputs.generator.uniformHost(batchSize);
        labels = mul(labels, fromArray(Float32Array.from(u, (v) => (v >= this.labelDropout ? 1 : 0)), [batchSize, 1], 'float32', labels.backend));
      }
      emb = add(emb, this.mapLabel.forward(mulScalar(labels, Math.sqrt(this.labelDim))));
    }
    if (this.mapAugment && inputs.augmentLabels) emb = add(emb, this.mapAugment.forward(inputs.augmentLabels));
    emb = silu(this.mapLayer0.forward(emb));
    return silu(this.mapLayer1.forward(emb));
  }
}
