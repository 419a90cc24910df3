import { readdir, readFile } from 'node:fs/promises';
import { basename, extname, join, relative } from 'node:path';
import { InMemoryDataset } from './in-memory-dataset.js';
import { decodeImage, IMAGE_EXTENSIONS } from './decode-image.js';
import { resizeBilinear } from './resize.js';
import { requirePath } from './require-path.js';

export interface ImageFolderOptions {
  /**
   * Resize every image to this size (one number: square; or [height, width]), stretching if the aspect
   * differs. Without it all images must already have one size.
   */
  resize?: number | readonly [height: number, width: number];
}

/**
 * Every PNG and JPEG under a folder (subfolders included, in sorted path order so that index i is the
 * same image on every machine), decoded to RGB and held in memory.
 */
export async function loadImageFolder(folder: string, options: ImageFolderOptions = {}): Promise<InMemoryDataset> {
  const stats = await requirePath(folder, 'image folder', 'Pass a folder that holds .png or .jpg images.');
  if (!stats.isDirectory()) throw new Error(`${folder} is not a folder; pass the folder that holds the images`);
  const files = (await readdir(folder, { recursive: true }))
    .filter((name) => (IMAGE_EXTENSIONS as readonly string[]).includes(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(folder, name));
  if (files.length === 0) throw new Error(`no images in ${folder}: it has no ${IMAGE_EXTENSIONS.join(', ')} files`);
  const target = typeof options.resize === 'number' ? ([options.resize, options.resize] as const) : options.resize;
  if (target && !target.every((n) => Number.isInteger(n) && n > 0)) throw new Error(`resize must be positive whole pixels, got ${target.join('x')}`);

  let size = target && { height: target[0], width: target[1] };
  let images: Uint8Array | undefined;
  for (const [i, file] of files.entries()) {
    const image = decodeImage(await readFile(file), file);
    size ??= { height: image.height, width: image.width };
    const sameSize = image.height === size.height && image.width === size.width;
    if (!sameSize && !target) {
      throw new Error(
        `${relative(folder, file)} is ${image.width}x${image.height} but ${relative(folder, files[0])} is ${size.width}x${size.height} ` +
          '(width x height); all images must have one size, or pass a resize option to resize them',
      );
    }
    const rgb = sameSize ? image.rgb : resizeBilinear(image.rgb, 3, image.height, image.width, size.height, size.width);
    images ??= new Uint8Array(files.length * rgb.length);
    images.set(rgb, i * rgb.length);
  }
  return new InMemoryDataset(`images ${basename(folder)}`, [3, size!.height, size!.width], images!);
}
