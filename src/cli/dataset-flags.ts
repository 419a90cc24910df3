/** The flags that name a dataset, as `cluster` and the training config name it (data.source, data.path, ...). */
import type { DatasetSpec } from '../data/open-dataset.js';
import { integerFlag } from './args.js';

const SOURCES: readonly DatasetSpec['source'][] = ['shapes', 'cifar10', 'mnist', 'folder'];

export const DATASET_FLAGS = {
  source: { type: 'string', default: 'cifar10' },
  data: { type: 'string' },
  resolution: { type: 'string', default: '32' },
  'shapes-count': { type: 'string', default: '10000' },
} as const;

export const DATASET_USAGE = `  --source S           cifar10 (default) | mnist | folder | shapes (built-in procedural shapes, no files)
  --data PATH          file or folder of the data, as \`train --data\` takes it (not for shapes)
  --resolution N       image size of shapes, and the size folder images are resized to (default 32)
  --shapes-count N     number of shapes images (default 10000, as data.count)`;

export function datasetFromFlags(v: { source?: string; data?: string; resolution?: string; 'shapes-count'?: string }): DatasetSpec {
  if (!SOURCES.includes(v.source as DatasetSpec['source'])) throw new Error(`--source must be one of ${SOURCES.join(', ')}, got "${v.source}"`);
  const source = v.source as DatasetSpec['source'];
  if (source !== 'shapes' && !v.data) throw new Error(`--data PATH is required for --source ${source}`);
  return { source, path: v.data ?? null, resolution: integerFlag('resolution', v.resolution, 8)!, count: integerFlag('shapes-count', v['shapes-count'], 2)! };
}
