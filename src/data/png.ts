/** PNG output (through pngjs) of single pictures and of image grids. */
import { writeFileSync } from 'node:fs';
import { PNG } from 'pngjs';
import type { Tensor } from '../tensor/index.js';
import { type GridOptions, type RGBAImage, imageGrid } from './grid.js';

export function encodePng(image: RGBAImage): Buffer {
  if (image.data.length !== image.width * image.height * 4) throw new Error(`RGBA data has ${image.data.length} bytes for ${image.width} x ${image.height}`);
  const png = new PNG({ width: image.width, height: image.height });
  png.data = Buffer.from(image.data.buffer, image.data.byteOffset, image.data.byteLength);
  return PNG.sync.write(png);
}

/** Writes a batch [B, C, H, W] of images in [-1, 1] as one PNG grid. */
export function writePngGrid(path: string, images: Tensor, options: GridOptions = {}): void {
  writeFileSync(path, encodePng(imageGrid(images, options)));
}
