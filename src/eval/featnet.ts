/**
 * The offline feature network behind FD_featnet: a small convolutional classifier the project trains on
 * a labelled dataset, whose penultimate features (globally averaged activations of its last stage) stand in
 * for Inception's pool3 features on machines without the Inception weights. Its distances compare runs
 * on the same data with the same featnet file; they are not FID and not comparable to published numbers.
 *
 * Layout: 3x3 conv to `width` channels, then three stages at full, half and quarter resolution (width,
 * 2 width, 4 width channels), each group norm + SiLU + 3x3 conv, the later two preceded by a 2x2 average
 * pool (EDM's down-sampling conv); a final group norm + SiLU, the mean over space (the features, 4 width
 * wide), and a linear layer to the class logits.
 */
import { readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { noGrad, tidy } from '../tensor/engine.js';
import { affine, cast, mean } from '../tensor/ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import { Module } from '../nn/module.js';
import { Conv2d } from '../nn/conv2d.js';
import { GroupNorm } from '../nn/group-norm.js';
import { Linear } from '../nn/linear.js';
import type { InitSource } from '../nn/init.js';
import { parseSafetensors } from '../nn/safetensors.js';
import { saveStateDictFile } from '../nn/state-dict-file.js';
import type { FeatureNetwork } from './feature-network.js';

export interface FeatNetShape {
  /** Image channels (3 for CIFAR-10, 1 for MNIST). */
  channels: number;
  /** Image height and width the network is trained and evaluated at. */
  resolution: number;
  classes: number;
  /** Channels of the first stage; the features are 4 * width wide. */
  width: number;
}

/** What a featnet file says about itself (its safetensors metadata). */
export interface FeatNetInfo extends FeatNetShape {
  dataset: string;
  /** Held-out top-1 accuracy in [0, 1]. */
  accuracy: number;
  heldOut: string;
  trainedImages: number;
  seed: number;
}

/** The metadata key that marks a featnet file; its value is the format version. */
const FORMAT_KEY = 'stagediff_featnet';
const FORMAT_VERSION = '1';

export class FeatNet extends Module implements FeatureNetwork {
  readonly metric = 'fd_featnet' as const;
  readonly featureDim: number;
  private readonly convIn: Conv2d;
  private readonly norms: GroupNorm[];
  private readonly convs: Conv2d[];
  private readonly normOut: GroupNorm;
  private readonly head: Linear;

  constructor(readonly shape: FeatNetShape, source: InitSource) {
    super();
    const { channels, resolution, classes, width } = shape;
    for (const [name, value, min] of [['channels', channels, 1], ['resolution', resolution, 4], ['classes', classes, 2], ['width', width, 4]] as const) {
      if (!Number.isInteger(value) || value < min) throw new Error(`featnet: ${name} must be a whole number >= ${min}, got ${value}`);
    }
    if (resolution % 4 !== 0) throw new Error(`featnet: the resolution must be a multiple of 4 (two 2x down-samplings), got ${resolution}`);
    const widths = [width, 2 * width, 4 * width];
    this.featureDim = widths[2];
    this.convIn = this.registerModule('conv_in', new Conv2d(channels, width, 3, {}, source));
    this.norms = widths.map((w, k) => this.registerModule(`norm${k}`, new GroupNorm(k === 0 ? w : widths[k - 1])));
    this.convs = widths.map((w, k) => this.registerModule(`conv${k}`, new Conv2d(k === 0 ? w : widths[k - 1], w, 3, { down: k > 0 }, source)));
    this.normOut = this.registerModule('norm_out', new GroupNorm(widths[2]));
    this.head = this.registerModule('head', new Linear(widths[2], classes, {}, source));
  }

  /** Penultimate features [N, featureDim] of images in [-1, 1] (differentiable: training reads them). */
  embed(x: Tensor): Tensor {
    return tidy(() => {
      let h = this.convIn.forward(x);
      for (let k = 0; k < this.convs.length; k++) h = this.convs[k].forward(this.norms[k].forward(h, true));
      return mean(this.normOut.forward(h, true), [2, 3]);
    });
  }

  logits(x: Tensor): Tensor {
    return tidy(() => this.head.forward(this.embed(x)));
  }

  /** FeatureNetwork: images in [0, 1] (uint8 / 255), [N, C, H, W] at the trained resolution, float32 features. */
  features(images: Tensor): Tensor {
    const [, c, h, w] = images.shape;
    const { channels, resolution } = this.shape;
    if (images.ndim !== 4 || c !== channels || h !== resolution || w !== resolution) {
      throw new Error(`this featnet reads [N, ${channels}, ${resolution}, ${resolution}] images, got [${images.shape.join(', ')}]; train a featnet on data of this size`);
    }
    return noGrad(() => tidy(() => cast(this.embed(affine(images, 2, -1)), 'float32')));
  }
}

/** Writes the network with what eval needs to know about it (temporary file, then rename). */
export function saveFeatNet(net: FeatNet, path: string, info: Omit<FeatNetInfo, keyof FeatNetShape>): void {
  const { channels, resolution, classes, width } = net.shape;
  const metadata: Record<string, string> = {
    [FORMAT_KEY]: FORMAT_VERSION,
    metric: 'fd_featnet',
    dataset: info.dataset,
    held_out: info.heldOut,
    accuracy: String(info.accuracy),
    trained_images: String(info.trainedImages),
    seed: String(info.seed),
    channels: String(channels),
    resolution: String(resolution),
    classes: String(classes),
    width: String(width),
    feature_dim: String(net.featureDim),
  };
  saveStateDictFile(net, path, metadata);
}

export interface LoadedFeatNet {
  net: FeatNet;
  info: FeatNetInfo;
  /** sha256 of the file: the network's identity, stored with reference statistics. */
  digest: string;
}

/** Loads a featnet file written by saveFeatNet; anything else gets a message that says what it is not. */
export function loadFeatNet(path: string): LoadedFeatNet {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new Error(`--featnet ${path}: cannot read (${(e as Error).message}); train one with \`stagediff featnet --data ... --out ${path}\``);
  }
  const { tensors, metadata } = parseSafetensors(bytes, path);
  if (metadata[FORMAT_KEY] !== FORMAT_VERSION) {
    throw new Error(`${path} is not a featnet file (no ${FORMAT_KEY}: ${FORMAT_VERSION} in its metadata); make one with \`stagediff featnet\``);
  }
  const whole = (key: string): number => {
    const n = Number(metadata[key]);
    if (!Number.isInteger(n)) throw new Error(`${path}: metadata ${key} = ${JSON.stringify(metadata[key])} is not a whole number`);
    return n;
  };
  const shape: FeatNetShape = { channels: whole('channels'), resolution: whole('resolution'), classes: whole('classes'), width: whole('width') };
  const net = new FeatNet(shape, 'empty');
  try {
    net.loadStateDict(tensors);
  } catch (e) {
    net.dispose();
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  net.eval();
  const info: FeatNetInfo = {
    ...shape,
    dataset: metadata.dataset ?? 'unknown',
    heldOut: metadata.held_out ?? 'unknown',
    accuracy: Number(metadata.accuracy),
    trainedImages: whole('trained_images'),
    seed: whole('seed'),
  };
  return { net, info, digest: createHash('sha256').update(bytes).digest('hex') };
}
