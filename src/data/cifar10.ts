import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { existsSync } from 'node:fs';
import { InMemoryDataset } from './in-memory-dataset.js';
import { requirePath } from './require-path.js';

const IMAGE_BYTES = 3 * 32 * 32;
/** A record of the binary version: one label byte, then the image as 1024 red, 1024 green, 1024 blue bytes. */
const RECORD_BYTES = 1 + IMAGE_BYTES;

export const CIFAR10_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'] as const;

const TRAIN_FILES = [1, 2, 3, 4, 5].map((k) => `data_batch_${k}.bin`);
const TEST_FILE = 'test_batch.bin';
/** The folder the official archive extracts to; accepted one level down for convenience. */
const ARCHIVE_FOLDER = 'cifar-10-batches-bin';
const HOW_TO_GET =
  'Download the binary version of CIFAR-10 (cifar-10-binary.tar.gz) from https://www.cs.toronto.edu/~kriz/cifar.html, ' +
  `extract it and pass the ${ARCHIVE_FOLDER} folder.`;

export interface Cifar10Options {
  /** For a folder: the five training batches (default) or the test batch. */
  split?: 'train' | 'test';
}

/**
 * CIFAR-10 from its binary batches: a folder (data_batch_1..5.bin that are present, or test_batch.bin),
 * one batch file, or a list of batch files. Labels are 0-9 (CIFAR10_CLASS_NAMES).
 */
export async function loadCifar10(source: string | readonly string[], options: Cifar10Options = {}): Promise<InMemoryDataset> {
  const split = options.split ?? 'train';
  const { files, name } = typeof source === 'string' ? await batchFilesAt(source, split) : { files: source, name: namedByFiles(source) };
  if (files.length === 0) throw new Error(`no CIFAR-10 batch files given. ${HOW_TO_GET}`);
  const contents = await Promise.all(files.map(readBatchFile));
  const records = contents.reduce((sum, bytes) => sum + bytes.length / RECORD_BYTES, 0);
  const images = new Uint8Array(records * IMAGE_BYTES);
  const labels = new Uint8Array(records);
  let record = 0;
  contents.forEach((bytes, f) => {
    for (let r = 0; r < bytes.length / RECORD_BYTES; r++, record++) {
      const label = bytes[r * RECORD_BYTES];
      if (label >= CIFAR10_CLASS_NAMES.length) {
        throw new Error(
          `${basename(files[f])}: record ${r} has label ${label}, but CIFAR-10 labels are 0-9 ` +
            '(a CIFAR-100 file, which has two label bytes per record, is not CIFAR-10)',
        );
      }
      labels[record] = label;
      images.set(bytes.subarray(r * RECORD_BYTES + 1, (r + 1) * RECORD_BYTES), record * IMAGE_BYTES);
    }
  });
  return new InMemoryDataset(name, [3, 32, 32], images, labels, CIFAR10_CLASS_NAMES);
}

function namedByFiles(files: readonly string[]): string {
  return `cifar10 ${files.map((file) => basename(file)).join(', ')}`;
}

/** The batch files a path names, and a dataset name: the file itself, or the split's files in the folder. */
async function batchFilesAt(path: string, split: 'train' | 'test'): Promise<{ files: string[]; name: string }> {
  const stats = await requirePath(path, 'CIFAR-10 data', HOW_TO_GET);
  if (!stats.isDirectory()) return { files: [path], name: namedByFiles([path]) };
  const folder = existsSync(join(path, ARCHIVE_FOLDER)) ? join(path, ARCHIVE_FOLDER) : path;
  const wanted = split === 'train' ? TRAIN_FILES : [TEST_FILE];
  const present = wanted.map((name) => join(folder, name)).filter((file) => existsSync(file));
  if (present.length === 0) {
    throw new Error(`CIFAR-10 ${split} data not found: ${folder} has none of ${wanted.join(', ')}. ${HOW_TO_GET}`);
  }
  return { files: present, name: `cifar10-${split}` };
}

async function readBatchFile(file: string): Promise<Uint8Array> {
  await requirePath(file, 'CIFAR-10 batch file', HOW_TO_GET);
  const bytes = await readFile(file);
  const name = basename(file);
  if (bytes.length === 0) throw new Error(`${name}: the file is empty; a CIFAR-10 batch holds ${RECORD_BYTES}-byte records`);
  if (bytes.length % RECORD_BYTES !== 0) {
    const truncated = Math.floor(bytes.length / RECORD_BYTES);
    throw new Error(
      `${name}: ${bytes.length} bytes is not a multiple of the ${RECORD_BYTES}-byte CIFAR-10 record ` +
        `(record ${truncated} is truncated); the file is damaged or not a CIFAR-10 binary batch`,
    );
  }
  return bytes;
}
