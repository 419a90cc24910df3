import { featnetSplit, trainFeatNet } from '../../eval/featnet-train.js';
import { saveFeatNet } from '../../eval/featnet.js';
import { checkOutputFile } from '../../util/output-file.js';
import { useDevice } from '../../runtime/device.js';
import { integerFlag, parseFlags } from '../args.js';
import { DATASET_FLAGS, DATASET_USAGE, datasetFromFlags } from '../dataset-flags.js';
import { ProgressBar, formatDuration } from '../progress.js';

const USAGE = `usage: stagediff featnet --data PATH --out featnet.safetensors [options]

Trains the small classifier whose penultimate features give FD_featnet, the Frechet distance for machines
without the Inception weights. FD_featnet compares runs on the same data with the same featnet file; it is
not FID. Held out for the accuracy: CIFAR-10's test_batch.bin when the folder has it, else the last 10%.

${DATASET_USAGE}
  --out FILE           the featnet (safetensors; dataset, resolution, accuracy and feature size in its metadata)
  --width N            channels of the first stage; features are 4N wide (default 32)
  --epochs N           passes over the training images (default 10)
  --batch N            images per step (default 128)
  --lr X               Adam learning rate, decaying linearly to 0 (default 0.002)
  --seed N             weights and batch order (default 0): the same data, options and seed give the same file
  --device D           auto | cpu | cuda`;

export async function featnetCommand(argv: string[]): Promise<void> {
  const v = parseFlags(
    argv,
    {
      ...DATASET_FLAGS,
      out: { type: 'string' },
      width: { type: 'string', default: '32' },
      epochs: { type: 'string', default: '10' },
      batch: { type: 'string', default: '128' },
      lr: { type: 'string', default: '0.002' },
      seed: { type: 'string', default: '0' },
      device: { type: 'string', default: 'auto' },
    },
    USAGE,
  );
  if (!v.out) throw new Error(`--out is required\n\n${USAGE}`);
  const spec = datasetFromFlags(v);
  const lr = Number(v.lr);
  if (!(lr > 0)) throw new Error(`--lr must be a number > 0, got "${v.lr}"`);
  const options = { width: integerFlag('width', v.width, 4)!, epochs: integerFlag('epochs', v.epochs, 1)!, batch: integerFlag('batch', v.batch, 2)!, lr, seed: integerFlag('seed', v.seed)! };
  checkOutputFile(v.out);
  const device = await useDevice(v.device!);
  const { train, heldOut } = await featnetSplit(spec);
  const bar = new ProgressBar('featnet');
  const started = performance.now();
  const result = await trainFeatNet({ train, heldOut, ...options, onStep: (step, steps, loss) => bar.update(step, steps, `loss ${loss.toFixed(3)}`) });
  bar.finish();
  saveFeatNet(result.net, v.out, { dataset: train.name, heldOut: heldOut.name, accuracy: result.accuracy, trainedImages: result.trainedImages, seed: options.seed });
  console.log(
    `featnet on ${device}: ${train.length} training images (${train.name}), ${options.epochs} epoch${options.epochs === 1 ? '' : 's'} in ${formatDuration((performance.now() - started) / 1000)}; ` +
      `held-out accuracy ${(100 * result.accuracy).toFixed(2)}% on ${heldOut.length} images (${heldOut.name}); ${result.net.featureDim}-d features; wrote ${v.out}`,
  );
}
