/** A dataset named by a source kind and a path, as configs and the CLI name them. */
import type { Dataset } from './dataset.js';
import { loadCifar10 } from './cifar10.js';
import { loadMnist } from './mnist.js';
import { loadImageFolder } from './image-folder.js';
import { ShapesDataset } from './shapes.js';

export interface DatasetSpec {
  source: 'shapes' | 'cifar10' | 'mnist' | 'folder';
  path: string | null;
  /** Shapes: image size; folder: resize target. */
  resolution: number;
  /** Shapes: number of images. */
  count: number;
  /** Shapes: which images (the data seed, independent of the training seed). */
  seed?: number;
}

export async function openDataset(spec: DatasetSpec): Promise<Dataset> {
  const need = (): string => {
    if (!spec.path) throw new Error(`data source "${spec.source}" needs a path (data.path in the config, or --data PATH)`);
    return spec.path;
  };
  switch (spec.source) {
    case 'shapes':
      return new ShapesDataset({ size: spec.resolution, length: spec.count, seed: spec.seed ?? 0 });
    case 'cifar10':
      return loadCifar10(need());
    case 'mnist':
      return loadMnist(need(), { padTo: 32 });
    case 'folder':
      return loadImageFolder(need(), { resize: spec.resolution });
  }
}
