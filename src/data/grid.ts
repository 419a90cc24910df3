/**
 * Tiles a batch of images into one picture for quick looks. Pixel values follow EDM's generate.py: x in
 * [-1, 1] becomes floor(127.5 x + 128) clipped to 0..255.
 */
import type { Tensor } from '../tensor/index.js';

export interface RGBAImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, row-major RGBA. */
  data: Uint8Array;
}

export interface GridOptions {
  /** Images per row (default: the smallest count that makes the grid at least as wide as tall). */
  columns?: number;
  /** Pixels between images and around the border (default 2). */
  padding?: number;
  /** Nearest-neighbour magnification of the whole grid (default: enough to show images at least 48 pixels tall). */
  scale?: number;
}

export function toUint8(value: number): number {
  return Math.min(255, Math.max(0, Math.floor(value * 127.5 + 128)));
}

/** A batch of 8-bit images, NHWC (image, row, column, channel) as numpy and EDM's npz files hold them. */
export interface Uint8Images {
  count: number;
  height: number;
  width: number;
  channels: number;
  /** count * height * width * channels bytes. */
  pixels: Uint8Array;
}

/** [B, C, H, W] in [-1, 1] to 8-bit NHWC with EDM's conversion (toUint8). */
export function toUint8Images(images: Tensor): Uint8Images {
  if (images.ndim !== 4) throw new Error(`images must be [B, C, H, W], got [${images.shape.join(', ')}]`);
  const [count, channels, height, width] = images.shape;
  const src = images.toFloat32Array();
  const pixels = new Uint8Array(src.length);
  const plane = height * width;
  for (let n = 0; n < count; n++) {
    for (let c = 0; c < channels; c++) {
      const from = (n * channels + c) * plane;
      for (let p = 0; p < plane; p++) pixels[(n * plane + p) * channels + c] = toUint8(src[from + p]);
    }
  }
  return { count, height, width, channels, pixels };
}

/** images: [B, C, H, W] with C = 1 (grey) or 3 (RGB), values in [-1, 1]. */
export function imageGrid(images: Tensor, options: GridOptions = {}): RGBAImage {
  if (images.ndim !== 4 || (images.shape[1] !== 1 && images.shape[1] !== 3)) {
    throw new Error(`an image grid needs [B, C, H, W] with 1 or 3 channels, got [${images.shape.join(', ')}]`);
  }
  return uint8ImageGrid(toUint8Images(images), options);
}

/** The grid of 8-bit images with 1 (grey) or 3 (RGB) channels. */
export function uint8ImageGrid(images: Uint8Images, options: GridOptions = {}): RGBAImage {
  const { count: b, channels: c, height: h, width: w, pixels } = images;
  if (c !== 1 && c !== 3) throw new Error(`an image grid needs 1 or 3 channels, got ${c}`);
  const columns = options.columns ?? Math.ceil(Math.sqrt(b));
  const padding = options.padding ?? 2;
  if (!Number.isInteger(columns) || columns < 1) throw new Error(`grid columns must be a positive integer, got ${columns}`);
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`grid padding must be a non-negative integer, got ${padding}`);
  const rows = Math.ceil(b / columns);
  const width = columns * (w + padding) + padding;
  const height = rows * (h + padding) + padding;
  const data = new Uint8Array(width * height * 4);
  for (let i = 3; i < data.length; i += 4) data[i] = 255;
  for (let n = 0; n < b; n++) {
    const x0 = padding + (n % columns) * (w + padding);
    const y0 = padding + Math.floor(n / columns) * (h + padding);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const at = ((y0 + y) * width + x0 + x) * 4;
        const from = ((n * h + y) * w + x) * c;
        for (let k = 0; k < 3; k++) data[at + k] = pixels[from + (c === 1 ? 0 : k)];
      }
    }
  }
  const scale = options.scale ?? Math.max(1, Math.floor(48 / h));
  if (!Number.isInteger(scale) || scale < 1) throw new Error(`grid scale must be a positive integer, got ${scale}`);
  return scale === 1 ? { width, height, data } : magnify({ width, height, data }, scale);
}

function magnify(image: RGBAImage, scale: number): RGBAImage {
  const width = image.width * scale;
  const height = image.height * scale;
  const data = new Uint8Array(width * height * 4);
  const src = new Uint32Array(image.data.buffer, image.data.byteOffset, image.width * image.height);
  const dst = new Uint32Array(data.buffer);
  for (let y = 0; y < height; y++) {
    const row = Math.floor(y / scale) * image.width;
    for (let x = 0; x < width; x++) dst[y * width + x] = src[row + Math.floor(x / scale)];
  }
  return { width, height, data };
}
