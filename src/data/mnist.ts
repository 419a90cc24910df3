import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { InMemoryDataset } from './in-memory-dataset.js';
import { readIdxUint8 } from './idx.js';
import { requirePath } from './require-path.js';

const HOW_TO_GET =
  'Download the MNIST (or Fashion-MNIST) IDX files, e.g. train-images-idx3-ubyte.gz and train-labels-idx1-ubyte.gz, ' +
  'and pass the folder that holds them or the images file.';

export interface MnistOptions {
  /** For a folder: the train-* files (default) or the t10k-* files. */
  split?: 'train' | 'test';
  /** Labels file for an images file given directly; a folder's labels file is found by its standard name. */
  labels?: string;
  /** Pads each image with zeros (black) to padTo x padTo, centred: 32 gives the power-of-two size U-Nets expect. */
  padTo?: number;
}

/** MNIST-format (IDX) grayscale images, one channel, from a folder with the standard file names or an images file. */
export async function loadMnist(path: string, options: MnistOptions = {}): Promise<InMemoryDataset> {
  const stats = await requirePath(path, 'MNIST data', HOW_TO_GET);
  let imagesFile = path;
  let labelsFile = options.labels;
  if (stats.isDirectory()) {
    const prefix = options.split === 'test' ? 't10k' : 'train';
    const found = findStandardFile(path, `${prefix}-images`, 'idx3-ubyte');
    if (!found) throw new Error(`MNIST ${prefix} images not found: ${path} has no ${prefix}-images-idx3-ubyte (or .gz). ${HOW_TO_GET}`);
    imagesFile = found;
    labelsFile ??= findStandardFile(path, `${prefix}-labels`, 'idx1-ubyte');
  }
  const images = await readIdxUint8(imagesFile, 3, 'image');
  const [count, height, width] = images.dims;
  let labels: Uint8Array | undefined;
  if (labelsFile !== undefined) {
    await requirePath(labelsFile, 'MNIST labels file', HOW_TO_GET);
    labels = (await readIdxUint8(labelsFile, 1, 'label')).data;
    if (labels.length !== count) throw new Error(`${labelsFile}: ${labels.length} labels for the ${count} images of ${imagesFile}`);
  }
  const classNames = labels && Array.from({ length: labels.reduce((max, label) => Math.max(max, label), 0) + 1 }, (_, k) => String(k));
  const { padTo } = options;
  if (padTo === undefined) return new InMemoryDataset('mnist', [1, height, width], images.data, labels, classNames);
  if (padTo < height || padTo < width) throw new Error(`padTo ${padTo} is smaller than the ${height}x${width} MNIST images`);
  return new InMemoryDataset('mnist', [1, padTo, padTo], padImages(images.data, count, height, width, padTo), labels, classNames);
}

/** The standard name in either spelling seen in the wild (train-images-idx3-ubyte, train-images.idx3-ubyte), plain or .gz. */
function findStandardFile(folder: string, stem: string, format: string): string | undefined {
  const candidates = [`${stem}-${format}`, `${stem}.${format}`].flatMap((name) => [name, `${name}.gz`]);
  return candidates.map((name) => join(folder, name)).find((file) => existsSync(file));
}

function padImages(data: Uint8Array, count: number, height: number, width: number, size: number): Uint8Array {
  const top = Math.floor((size - height) / 2);
  const left = Math.floor((size - width) / 2);
  const out = new Uint8Array(count * size * size);
  for (let n = 0; n < count; n++) {
    for (let y = 0; y < height; y++) {
      const from = (n * height + y) * width;
      out.set(data.subarray(from, from + width), (n * size + top + y) * size + left);
    }
  }
  return out;
}
