import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import { basename, extname } from 'node:path';

/** A decoded image as three planes (red, green, blue), CHW. */
export interface RgbImage {
  width: number;
  height: number;
  rgb: Uint8Array;
}

export const IMAGE_EXTENSIONS = ['.png', '.jpg', '.jpeg'] as const;

/**
 * Decodes a PNG or JPEG file's bytes to 8-bit RGB. Grey, palette and 16-bit PNGs are expanded by the
 * decoders; alpha is dropped rather than composited, as PIL's convert('RGB') does, so pixels match the
 * data sets people prepare with Python tools.
 */
export function decodeImage(bytes: Uint8Array, file: string): RgbImage {
  const extension = extname(file).toLowerCase();
  let rgba: { width: number; height: number; data: Uint8Array };
  try {
    rgba = extension === '.png' ? PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)) : jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true });
  } catch (error) {
    const format = extension === '.png' ? 'PNG' : 'JPEG';
    throw new Error(`${basename(file)}: not a readable ${format} image (${(error as Error).message})`);
  }
  const { width, height, data } = rgba;
  const plane = width * height;
  const rgb = new Uint8Array(3 * plane);
  for (let p = 0; p < plane; p++) {
    rgb[p] = data[4 * p];
    rgb[plane + p] = data[4 * p + 1];
    rgb[2 * plane + p] = data[4 * p + 2];
  }
  return { width, height, rgb };
}
