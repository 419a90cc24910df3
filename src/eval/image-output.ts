/**
 * Where sampled images go: a PNG grid (`x.png`), every image as uint8 NHWC `arr_0` in an npz that numpy,
 * EDM and pytorch-fid read (`x.npz`), or one PNG per image in a folder, named by its seed as EDM's
 * generate.py names them (000123.png). Every output also gets a grid of its first 64 images. Paths are
 * checked before any sampling, and every file is written to a temporary name and renamed.
 */
import { extname, join, resolve } from 'node:path';
import { statSync } from 'node:fs';
import { type Uint8Images, uint8ImageGrid } from '../data/grid.js';
import { writePng } from '../data/png.js';
import { NpzWriter } from '../data/npz.js';
import { checkOutputFile, checkOutputFolder, makeOutputFolder } from '../util/output-file.js';
import type { GeneratedBatch } from './generate.js';

export type ImageOutputKind = 'grid' | 'npz' | 'folder';

export interface ImageOutputPlan {
  kind: ImageOutputKind;
  /** The grid PNG, the npz file or the folder. */
  path: string;
  /** The PNG grid of the first GRID_IMAGES images. */
  grid: string;
}

export const GRID_IMAGES = 64;

/**
 * Reads --out: .png is a grid, .npz an npz, a path ending in '/', an existing folder or a name without an
 * extension is a folder; any other extension is refused. `grid` overrides where the grid goes (default: the
 * output itself for a grid, else the output with .png).
 */
export function planImageOutput(out: string, grid?: string): ImageOutputPlan {
  let isDir = false;
  try {
    isDir = statSync(out).isDirectory();
  } catch {
    // not there yet
  }
  const ext = extname(out).toLowerCase();
  let kind: ImageOutputKind;
  if (isDir || out.endsWith('/') || ext === '') kind = 'folder';
  else if (ext === '.png') kind = 'grid';
  else if (ext === '.npz') kind = 'npz';
  else throw new Error(`--out ${out}: cannot write ${ext} files; give a .png (a grid), an .npz (every image) or a folder (one PNG per image)`);
  const path = kind === 'folder' ? out.replace(/\/+$/, '') || '/' : out;
  const gridPath = grid ?? (kind === 'grid' ? out : `${kind === 'npz' ? out.slice(0, -ext.length) : resolve(path)}.png`);
  if (extname(gridPath).toLowerCase() !== '.png') throw new Error(`--grid ${gridPath}: the grid is a PNG; give a name ending in .png`);
  return { kind, path, grid: gridPath };
}

/** Fails, before any work, when an output cannot be written or would not hold `count` images. */
export function checkImageOutput(plan: ImageOutputPlan, count: number): void {
  if (plan.kind === 'grid' && count > GRID_IMAGES) {
    throw new Error(`--out ${plan.path}: a grid holds the first ${GRID_IMAGES} images; for ${count}, give an .npz or a folder (the grid is written beside it)`);
  }
  if (plan.kind === 'folder') checkOutputFolder(plan.path);
  else checkOutputFile(plan.path);
  checkOutputFile(plan.grid);
}

/**
 * Fails when the images cannot go where planned: PNGs need 1 (grey) or 3 (RGB) channels, and an npz of
 * `count` images of `shape` [C, H, W] must stay within the zip format's 4 GiB.
 */
export function checkImageCapacity(plan: ImageOutputPlan, count: number, shape: readonly number[]): void {
  if (shape[0] !== 1 && shape[0] !== 3) throw new Error(`${plan.grid}: PNG images need 1 or 3 channels, the model makes ${shape[0]}`);
  if (plan.kind === 'npz') {
    const [c, h, w] = shape;
    const size = NpzWriter.fileSize([{ name: 'arr_0', dtype: '|u1', shape: [count, h, w, c] }]);
    if (size > 0xffffffff) throw new Error(`--out ${plan.path}: ${count} images of ${c}x${h}x${w} make a ${(size / 2 ** 30).toFixed(1)} GiB npz, past the 4 GiB an npz without ZIP64 holds; write a folder or split the run (--first, --count)`);
  }
}

/** Receives generated batches in order and writes them to the planned output; close() finishes the files. */
export class ImageOutput {
  private readonly npz: NpzWriter | null = null;
  private readonly gridImages: Uint8Array[] = [];
  private gridCount = 0;
  private shape: Omit<Uint8Images, 'pixels' | 'count'> | null = null;

  constructor(
    private readonly plan: ImageOutputPlan,
    count: number,
    imageShape: readonly number[],
    /** Image i of the run is named by seed `seed + i` in a folder. */
    private readonly seed: number,
  ) {
    const [c, h, w] = imageShape;
    if (plan.kind === 'npz') {
      this.npz = new NpzWriter(plan.path);
      this.npz.begin('arr_0', '|u1', [count, h, w, c]);
    }
    if (plan.kind === 'folder') makeOutputFolder(plan.path);
  }

  write(batch: GeneratedBatch): void {
    this.shape ??= { height: batch.height, width: batch.width, channels: batch.channels };
    const bytesPerImage = batch.height * batch.width * batch.channels;
    const forGrid = Math.min(batch.count, GRID_IMAGES - this.gridCount);
    if (forGrid > 0) {
      this.gridImages.push(batch.pixels.slice(0, forGrid * bytesPerImage));
      this.gridCount += forGrid;
    }
    if (this.npz) this.npz.write(batch.pixels);
    if (this.plan.kind === 'folder') {
      for (let k = 0; k < batch.count; k++) {
        const one = { ...batch, count: 1, pixels: batch.pixels.subarray(k * bytesPerImage, (k + 1) * bytesPerImage) };
        writePng(join(this.plan.path, `${String(this.seed + batch.first + k).padStart(6, '0')}.png`), uint8ImageGrid(one, { columns: 1, padding: 0, scale: 1 }));
      }
    }
  }

  /** Writes the grid and completes the npz. */
  close(): void {
    if (!this.shape) throw new Error('internal: no images were written');
    const pixels = new Uint8Array(this.gridImages.reduce((a, p) => a + p.length, 0));
    this.gridImages.reduce((at, p) => (pixels.set(p, at), at + p.length), 0);
    writePng(this.plan.grid, uint8ImageGrid({ ...this.shape, count: this.gridCount, pixels }));
    this.npz?.close();
  }

  /** After an error: removes the unfinished npz (PNGs already written in a folder stay: each is whole). */
  abort(): void {
    this.npz?.abort();
  }
}
