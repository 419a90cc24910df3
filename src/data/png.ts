/** PNG output (through pngjs) of single pictures and of image grids. */
import { PNG } from 'pngjs';
import type { Tensor } from '../tensor/index.js';
import { type GridOptions, type RGBAImage, imageGrid } from './grid.js';
import { writeFileAtomic } from '../util/output-file.js';

export function encodePng(image: RGBAImage): Buffer {
  if (image.data.length !== image.width * image.height * 4) throw new Error(`RGBA data has ${image.data.length} bytes for ${image.width} x ${image.height}`);
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png);
}

/** Writes a PNG through a temporary file and a rename (never a partial file); errors name the file. */
export function writePng(path: string, image: RGBAImage): void {
  writeFileAtomic(path, encodePng(image));
}

/** Writes a batch [B, C, H, W] of images in [-1, 1] as one PNG grid. */
export function writePngGrid(path: string, images: Tensor, options: GridOptions = {}): void {
  writePng(path, imageGrid(images, options));
}
