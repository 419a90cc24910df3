/**
 * pytorch-fid's FID Inception-v3: torchvision's Inception3 with pytorch-fid's FIDInceptionA, C, E_1 and
 * E_2 blocks (the network of the TensorFlow FID code), up to the 2048-d pool3 features. Images in [0, 1]
 * are resized to 299x299 (bilinear, align_corners=False) and mapped to [-1, 1], as pytorch-fid's
 * InceptionV3(resize_input=True, normalize_input=True) does. Forward only, on either backend.
 *
 * Weights: a safetensors file under the names of pytorch-fid's pt_inception-2015-12-05-6726825d.pth
 * (torchvision's: Conv2d_1a_3x3.conv.weight, Mixed_5b.branch1x1.bn.running_mean, ...), without fc.* and
 * num_batches_tracked. stagediff never downloads them: docs/evaluation.md says how to make the file.
 */
import { existsSync } from 'node:fs';
import { Module } from '../nn/module.js';
import { BatchNorm2d } from '../nn/batch-norm.js';
import type { Parameter } from '../nn/parameter.js';
import { type HostTensor, readSafetensors } from '../nn/safetensors.js';
import { noGrad, tidy } from '../tensor/engine.js';
import { affine, avgPool2d, concat, conv2d, globalAvgPool, interpolateBilinear, maxPool2d } from '../tensor/ops/index.js';
import { formatShape, sameShape } from '../base/shape.js';
import { type Tensor, zeros } from '../tensor/tensor.js';
import type { FeatureNetwork } from './feature-network.js';

/** The input size Inception-v3 was trained at. */
const INPUT_SIZE = 299;
/** torchvision's BasicConv2d batch norm. */
const BN_EPS = 0.001;

type Pair = readonly [number, number];

interface ConvSpec {
  kernel: number | Pair;
  pad?: number | Pair;
  stride?: number;
}

const pair = (v: number | Pair): Pair => (typeof v === 'number' ? [v, v] : v);

/** torch.nn.Conv2d without bias, any kernel shape: the `conv` of a BasicConv2d. */
class Convolution extends Module {
  readonly weight: Parameter;
  readonly pad: Pair;
  readonly stride: number;

  constructor(inChannels: number, outChannels: number, spec: ConvSpec) {
    super();
    const [kh, kw] = pair(spec.kernel);
    this.pad = pair(spec.pad ?? 0);
    this.stride = spec.stride ?? 1;
    this.weight = this.registerParameter('weight', zeros([outChannels, inChannels, kh, kw]));
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, null, { pad: this.pad, stride: this.stride });
  }
}

/** torchvision's BasicConv2d: convolution, eval batch norm (eps 0.001), ReLU. */
class BasicConv2d extends Module {
  readonly conv: Convolution;
  readonly bn: BatchNorm2d;

  constructor(inChannels: number, outChannels: number, spec: ConvSpec) {
    super();
    this.conv = this.registerModule('conv', new Convolution(inChannels, outChannels, spec));
    this.bn = this.registerModule('bn', new BatchNorm2d(outChannels, BN_EPS));
  }

  forward(x: Tensor): Tensor {
    return this.bn.forward(this.conv.forward(x), true);
  }
}

/** A block of parallel branches joined along the channels; each branch a chain of its named convolutions. */
abstract class InceptionBlock extends Module {
  protected conv(name: string, inChannels: number, outChannels: number, spec: ConvSpec): BasicConv2d {
    return this.registerModule(name, new BasicConv2d(inChannels, outChannels, spec));
  }

  protected abstract branches(x: Tensor): Tensor[];

  forward(x: Tensor): Tensor {
    return tidy(() => concat(this.branches(x), 1));
  }
}

const chain = (x: Tensor, ...convs: BasicConv2d[]): Tensor => convs.reduce((h, c) => c.forward(h), x);

/** Every FID block's pooling branch: the average excludes the padding (count_include_pad=False). */
const averagePool3x3 = (x: Tensor): Tensor => avgPool2d(x, 3, 1, 1);

/** FIDInceptionA and FIDInceptionC: a 1x1 branch, two chains of convolutions, and an average-pool branch. */
abstract class AveragePoolBlock extends InceptionBlock {
  // set by each subclass's constructor, which registers them
  protected b1!: BasicConv2d;
  protected chains!: BasicConv2d[][];
  protected pool!: BasicConv2d;

  protected branches(x: Tensor): Tensor[] {
    return [this.b1.forward(x), ...this.chains.map((c) => chain(x, ...c)), this.pool.forward(averagePool3x3(x))];
  }
}

/** FIDInceptionA: 1x1, 5x5, double 3x3 and average-pool branches. */
class InceptionA extends AveragePoolBlock {
  constructor(inChannels: number, poolFeatures: number) {
    super();
    this.b1 = this.conv('branch1x1', inChannels, 64, { kernel: 1 });
    this.chains = [
      [this.conv('branch5x5_1', inChannels, 48, { kernel: 1 }), this.conv('branch5x5_2', 48, 64, { kernel: 5, pad: 2 })],
      [
        this.conv('branch3x3dbl_1', inChannels, 64, { kernel: 1 }),
        this.conv('branch3x3dbl_2', 64, 96, { kernel: 3, pad: 1 }),
        this.conv('branch3x3dbl_3', 96, 96, { kernel: 3, pad: 1 }),
      ],
    ];
    this.pool = this.conv('branch_pool', inChannels, poolFeatures, { kernel: 1 });
  }
}

/** torchvision's InceptionB: grid reduction to 17x17 (stride-2 3x3, double 3x3, max pool). */
class InceptionB extends InceptionBlock {
  private readonly b3: BasicConv2d;
  private readonly b33: BasicConv2d[];

  constructor(inChannels: number) {
    super();
    this.b3 = this.conv('branch3x3', inChannels, 384, { kernel: 3, stride: 2 });
    this.b33 = [
      this.conv('branch3x3dbl_1', inChannels, 64, { kernel: 1 }),
      this.conv('branch3x3dbl_2', 64, 96, { kernel: 3, pad: 1 }),
      this.conv('branch3x3dbl_3', 96, 96, { kernel: 3, stride: 2 }),
    ];
  }

  protected branches(x: Tensor): Tensor[] {
    return [this.b3.forward(x), chain(x, ...this.b33), maxPool2d(x, 3, 2)];
  }
}

/** FIDInceptionC: 1x1, factorised 7x7 (1x7 then 7x1), double factorised 7x7 and average-pool branches. */
class InceptionC extends AveragePoolBlock {
  constructor(inChannels: number, c7: number) {
    super();
    const row = { kernel: [1, 7], pad: [0, 3] } as const;
    const column = { kernel: [7, 1], pad: [3, 0] } as const;
    this.b1 = this.conv('branch1x1', inChannels, 192, { kernel: 1 });
    this.chains = [
      [this.conv('branch7x7_1', inChannels, c7, { kernel: 1 }), this.conv('branch7x7_2', c7, c7, row), this.conv('branch7x7_3', c7, 192, column)],
      [
        this.conv('branch7x7dbl_1', inChannels, c7, { kernel: 1 }),
        this.conv('branch7x7dbl_2', c7, c7, column),
        this.conv('branch7x7dbl_3', c7, c7, row),
        this.conv('branch7x7dbl_4', c7, c7, column),
        this.conv('branch7x7dbl_5', c7, 192, row),
      ],
    ];
    this.pool = this.conv('branch_pool', inChannels, 192, { kernel: 1 });
  }
}

/** torchvision's InceptionD: grid reduction to 8x8 (1x1 then stride-2 3x3, 1x1-1x7-7x1 then stride-2 3x3, max pool). */
class InceptionD extends InceptionBlock {
  private readonly b3: BasicConv2d[];
  private readonly b7: BasicConv2d[];

  constructor(inChannels: number) {
    super();
    this.b3 = [this.conv('branch3x3_1', inChannels, 192, { kernel: 1 }), this.conv('branch3x3_2', 192, 320, { kernel: 3, stride: 2 })];
    this.b7 = [
      this.conv('branch7x7x3_1', inChannels, 192, { kernel: 1 }),
      this.conv('branch7x7x3_2', 192, 192, { kernel: [1, 7], pad: [0, 3] }),
      this.conv('branch7x7x3_3', 192, 192, { kernel: [7, 1], pad: [3, 0] }),
      this.conv('branch7x7x3_4', 192, 192, { kernel: 3, stride: 2 }),
    ];
  }

  protected branches(x: Tensor): Tensor[] {
    return [chain(x, ...this.b3), chain(x, ...this.b7), maxPool2d(x, 3, 2)];
  }
}

/**
 * FIDInceptionE_1 (average pool) and FIDInceptionE_2 (max pool, the last block): 1x1, 3x3 split into 1x3
 * and 3x1, double 3x3 split likewise, and pool branches.
 */
class InceptionE extends InceptionBlock {
  private readonly b1: BasicConv2d;
  private readonly b3: BasicConv2d;
  private readonly b3Split: [BasicConv2d, BasicConv2d];
  private readonly b33: [BasicConv2d, BasicConv2d];
  private readonly b33Split: [BasicConv2d, BasicConv2d];
  private readonly pool: BasicConv2d;

  constructor(inChannels: number, private readonly poolMode: 'avg' | 'max') {
    super();
    const row = { kernel: [1, 3], pad: [0, 1] } as const;
    const column = { kernel: [3, 1], pad: [1, 0] } as const;
    this.b1 = this.conv('branch1x1', inChannels, 320, { kernel: 1 });
    this.b3 = this.conv('branch3x3_1', inChannels, 384, { kernel: 1 });
    this.b3Split = [this.conv('branch3x3_2a', 384, 384, row), this.conv('branch3x3_2b', 384, 384, column)];
    this.b33 = [this.conv('branch3x3dbl_1', inChannels, 448, { kernel: 1 }), this.conv('branch3x3dbl_2', 448, 384, { kernel: 3, pad: 1 })];
    this.b33Split = [this.conv('branch3x3dbl_3a', 384, 384, row), this.conv('branch3x3dbl_3b', 384, 384, column)];
    this.pool = this.conv('branch_pool', inChannels, 192, { kernel: 1 });
  }

  protected branches(x: Tensor): Tensor[] {
    const split = (h: Tensor, [a, b]: [BasicConv2d, BasicConv2d]): Tensor => concat([a.forward(h), b.forward(h)], 1);
    const pooled = this.poolMode === 'avg' ? averagePool3x3(x) : maxPool2d(x, 3, 1, 1);
    return [this.b1.forward(x), split(this.b3.forward(x), this.b3Split), split(chain(x, ...this.b33), this.b33Split), this.pool.forward(pooled)];
  }
}

/** pytorch-fid's InceptionV3 for FID: [N, 3, H, W] in [0, 1] to the 2048-d pool3 features. */
export class FidInceptionV3 extends Module implements FeatureNetwork {
  readonly metric = 'fid' as const;
  readonly featureDim = 2048;
  private readonly stem: BasicConv2d[];
  private readonly stem2: BasicConv2d[];
  private readonly mixed: InceptionBlock[];

  constructor() {
    super();
    const basic = (name: string, inChannels: number, outChannels: number, spec: ConvSpec): BasicConv2d => this.registerModule(name, new BasicConv2d(inChannels, outChannels, spec));
    this.stem = [
      basic('Conv2d_1a_3x3', 3, 32, { kernel: 3, stride: 2 }),
      basic('Conv2d_2a_3x3', 32, 32, { kernel: 3 }),
      basic('Conv2d_2b_3x3', 32, 64, { kernel: 3, pad: 1 }),
    ];
    this.stem2 = [basic('Conv2d_3b_1x1', 64, 80, { kernel: 1 }), basic('Conv2d_4a_3x3', 80, 192, { kernel: 3 })];
    const block = <B extends InceptionBlock>(name: string, b: B): B => this.registerModule(name, b);
    this.mixed = [
      block('Mixed_5b', new InceptionA(192, 32)),
      block('Mixed_5c', new InceptionA(256, 64)),
      block('Mixed_5d', new InceptionA(288, 64)),
      block('Mixed_6a', new InceptionB(288)),
      block('Mixed_6b', new InceptionC(768, 128)),
      block('Mixed_6c', new InceptionC(768, 160)),
      block('Mixed_6d', new InceptionC(768, 160)),
      block('Mixed_6e', new InceptionC(768, 192)),
      block('Mixed_7a', new InceptionD(768)),
      block('Mixed_7b', new InceptionE(1280, 'avg')),
      block('Mixed_7c', new InceptionE(2048, 'max')),
    ];
    this.eval();
  }

  /** float32 [N, 3, H, W] in [0, 1] (any H, W) to float32 [N, 2048]. */
  features(images: Tensor): Tensor {
    if (images.ndim !== 4 || images.shape[1] !== 3) throw new Error(`FID Inception-v3 takes images [N, 3, H, W], got ${formatShape(images.shape)}`);
    return noGrad(() =>
      tidy(() => {
        let x = affine(interpolateBilinear(images, INPUT_SIZE, INPUT_SIZE), 2, -1);
        x = maxPool2d(chain(x, ...this.stem), 3, 2);
        x = maxPool2d(chain(x, ...this.stem2), 3, 2);
        for (const b of this.mixed) x = b.forward(x);
        return globalAvgPool(x);
      }),
    );
  }
}

const HOW_TO_GET_WEIGHTS = [
  'stagediff does not download them. To get them:',
  '  1. download pt_inception-2015-12-05-6726825d.pth from the pytorch-fid GitHub release',
  '     (https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/pt_inception-2015-12-05-6726825d.pth);',
  '  2. convert it to safetensors with the few lines of Python in docs/evaluation.md ("Inception weights");',
  '  3. pass the file with --inception PATH or set STAGEDIFF_INCEPTION=PATH.',
].join('\n');

/**
 * The Inception weights file: `flag` (--inception) if given, else $STAGEDIFF_INCEPTION. Throws, saying how
 * to get the weights, when neither is set or the file does not exist.
 */
export function inceptionWeightsPath(flag?: string): string {
  const path = flag ?? process.env.STAGEDIFF_INCEPTION;
  if (path === undefined || path === '') throw new Error(`FID needs the Inception-v3 weights (neither --inception nor STAGEDIFF_INCEPTION is set). ${HOW_TO_GET_WEIGHTS}`);
  const source = flag !== undefined ? '--inception' : 'STAGEDIFF_INCEPTION';
  if (!existsSync(path)) throw new Error(`the Inception-v3 weights file ${path} (from ${source}) does not exist. ${HOW_TO_GET_WEIGHTS}`);
  return path;
}

/**
 * Loads a state dict into the network. The names and shapes must be exactly the network's: the error names
 * the first tensor missing, unexpected or of the wrong shape (in the network's order, then the file's).
 */
export function loadInceptionState(net: FidInceptionV3, state: ReadonlyMap<string, HostTensor>, source: string): void {
  const own = net.stateDict();
  const fail = (problem: string): never => {
    throw new Error(`${source} is not pytorch-fid's FID Inception-v3 state dict (pt_inception-2015-12-05-6726825d.pth under torchvision's names, without fc.* and num_batches_tracked): ${problem}. ${HOW_TO_GET_WEIGHTS}`);
  };
  for (const [name, t] of own) {
    const got = state.get(name);
    if (!got) fail(`it has no tensor ${name} ${formatShape(t.shape)}`);
    else if (!sameShape(got.shape, t.shape)) fail(`${name} has shape ${formatShape(got.shape)}, expected ${formatShape(t.shape)}`);
  }
  for (const [name, t] of state) if (!own.has(name)) fail(`it has an unexpected tensor ${name} ${formatShape(t.shape)}`);
  net.loadStateDict(state);
}

/** The FID network with the weights of a safetensors file (see inceptionWeightsPath for where it comes from). */
export function loadFidInception(path: string): FidInceptionV3 {
  const { tensors } = readSafetensors(path);
  const net = new FidInceptionV3();
  try {
    loadInceptionState(net, tensors, path);
  } catch (e) {
    net.dispose();
    throw e;
  }
  return net;
}
