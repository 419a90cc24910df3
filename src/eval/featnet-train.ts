/**
 * Training the FD_featnet classifier: Adam on the cross-entropy of the class labels, horizontal flips,
 * a linearly decaying learning rate, everything seeded, so the same data and options give the same file
 * (bit for bit on the CPU backend). The held-out accuracy says whether its features mean anything.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { backward } from '../tensor/autograd.js';
import { noGrad, tidy } from '../tensor/engine.js';
import { cast, exp, log, max, mean, mul, neg, sub, sum } from '../tensor/ops/index.js';
import { type Tensor, fromArray } from '../tensor/tensor.js';
import { Generator } from '../tensor/random.js';
import { Adam } from '../optim/adam.js';
import type { Dataset, Indices } from '../data/dataset.js';
import { DataLoader } from '../data/loader.js';
import { imagesToTensor } from '../data/images-to-tensor.js';
import { DatasetRange } from '../data/dataset-range.js';
import { type DatasetSpec, openDataset } from '../data/open-dataset.js';
import { loadCifar10 } from '../data/cifar10.js';
import { FeatNet } from './featnet.js';

export interface FeatNetTrainOptions {
  train: Dataset;
  heldOut: Dataset;
  /** Channels of the first stage (features are 4 * width wide). */
  width: number;
  epochs: number;
  batch: number;
  lr: number;
  seed: number;
  onStep?: (step: number, steps: number, loss: number) => void;
}

export interface TrainedFeatNet {
  net: FeatNet;
  /** Top-1 accuracy on the held-out set. */
  accuracy: number;
  trainedImages: number;
}

/** Mean cross-entropy of integer labels under logits [N, K], with a max-shifted log-sum-exp. */
export function crossEntropy(logits: Tensor, labels: Int32Array): Tensor {
  return tidy(() => {
    logits = cast(logits, 'float32');
    const [n, k] = logits.shape;
    const oneHot = new Float32Array(n * k);
    labels.forEach((label, i) => (oneHot[i * k + label] = 1));
    const shifted = sub(logits, max(logits, [1], true));
    const logProbs = sub(shifted, log(sum(exp(shifted), [1], true)));
    return neg(mean(sum(mul(logProbs, fromArray(oneHot, [n, k])), [1])));
  });
}

/** The number of classes of a labelled dataset, and a check that every label of it fits. */
function classCount(dataset: Dataset): number {
  if (!dataset.getLabels) throw new Error(`${dataset.name} has no labels; the featnet is a classifier and needs a labelled dataset (cifar10, mnist, shapes)`);
  return dataset.classNames?.length ?? 1 + Math.max(...dataset.getLabels(Array.from({ length: dataset.length }, (_, i) => i)));
}

export async function trainFeatNet(options: FeatNetTrainOptions): Promise<TrainedFeatNet> {
  const { train, heldOut, width, epochs, batch, lr, seed } = options;
  const classes = classCount(train);
  if (classCount(heldOut) > classes) throw new Error(`${heldOut.name} has more classes than ${train.name}`);
  const [channels, height, widthPixels] = train.imageShape;
  if (height !== widthPixels) throw new Error(`the featnet needs square images, ${train.name} has ${height}x${widthPixels}`);
  if (heldOut.imageShape.join() !== train.imageShape.join()) throw new Error(`held-out images ${heldOut.imageShape.join('x')} differ from training images ${train.imageShape.join('x')}`);
  const net = new FeatNet({ channels, resolution: height, classes, width }, new Generator(seed));
  const loader = new DataLoader(train, { batchSize: Math.min(batch, train.length), seed: seed + 1, flip: true, dropLast: true });
  const steps = epochs * loader.batchesPerEpoch;
  const optimizer = new Adam(net.namedParameters(), { lr });
  let step = 0;
  let trainedImages = 0;
  for await (const b of loader) {
    if (step >= steps) break;
    optimizer.lr = lr * (1 - step / steps);
    const loss = tidy(() => {
      const l = crossEntropy(net.logits(imagesToTensor(b.images, b.shape)), b.labels!);
      backward(l);
      return l.item();
    });
    optimizer.step();
    optimizer.zeroGrad();
    if (!Number.isFinite(loss)) throw new Error(`featnet training diverged at step ${step} (loss ${loss}); lower --lr`);
    step++;
    trainedImages += b.shape[0];
    options.onStep?.(step, steps, loss);
  }
  net.eval();
  return { net, accuracy: accuracy(net, heldOut, batch), trainedImages };
}

/** Top-1 accuracy of the network on a labelled dataset, in order, in batches. */
export function accuracy(net: FeatNet, dataset: Dataset, batch: number): number {
  let correct = 0;
  for (let start = 0; start < dataset.length; start += batch) {
    const indices: Indices = Array.from({ length: Math.min(batch, dataset.length - start) }, (_, k) => start + k);
    const labels = dataset.getLabels!(indices);
    const [c, h, w] = dataset.imageShape;
    const logits = noGrad(() => tidy(() => cast(net.logits(imagesToTensor(dataset.getBatch(indices), [indices.length, c, h, w])), 'float32').toFloat32Array()));
    const k = logits.length / indices.length;
    labels.forEach((label, i) => {
      let best = 0;
      for (let j = 1; j < k; j++) if (logits[i * k + j] > logits[i * k + best]) best = j;
      if (best === label) correct++;
    });
  }
  return correct / dataset.length;
}

/** The fraction of a dataset held out when it has no test split of its own. */
export const HELD_OUT_FRACTION = 0.1;

/**
 * Training and held-out images for a featnet: CIFAR-10's test batch when the folder has one (the
 * training batches then train), otherwise the last 10% of the data (the first 90% train).
 */
export async function featnetSplit(spec: DatasetSpec): Promise<{ train: Dataset; heldOut: Dataset }> {
  const all = await openDataset(spec);
  const path = spec.path;
  if (spec.source === 'cifar10' && path && [join(path, 'test_batch.bin'), join(path, 'cifar-10-batches-bin', 'test_batch.bin')].some((f) => existsSync(f))) {
    return { train: all, heldOut: await loadCifar10(path, { split: 'test' }) };
  }
  const held = Math.max(1, Math.round(all.length * HELD_OUT_FRACTION));
  if (all.length - held < 1) throw new Error(`${all.name} has ${all.length} images: too few to hold ${held} out and train on the rest`);
  return { train: new DatasetRange(all, 0, all.length - held), heldOut: new DatasetRange(all, all.length - held, held) };
}
