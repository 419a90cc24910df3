/**
 * A small RGBA raster for PNG plots: filled rectangles, lines, dots and tick labels in a 3x5 pixel font,
 * encoded as PNG through pngjs. Just enough to draw an axis box with ticks; no plotting library is a
 * dependency of the project.
 */
import { PNG } from 'pngjs';
import type { Rgb } from './chart.js';

/** 3x5 glyphs, one string of 15 bits (row-major, '1' = ink) per character. */
const GLYPHS: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111',
  '4': '101101111001001', '5': '111100111001111', '6': '111100111101111', '7': '111001001001001',
  '8': '111101111101111', '9': '111101111001111', '.': '000000000000010', '-': '000000111000000',
  k: '100101110101101', M: '101111111101101',
};

export class Raster {
  readonly data: Uint8Array;

  constructor(readonly width: number, readonly height: number, background: Rgb = [255, 255, 255]) {
    this.data = new Uint8Array(width * height * 4);
    this.fillRect(0, 0, width, height, background);
  }

  setPixel(x: number, y: number, color: Rgb): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const o = (y * this.width + x) * 4;
    this.data[o] = color[0];
    this.data[o + 1] = color[1];
    this.data[o + 2] = color[2];
    this.data[o + 3] = 255;
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    for (let j = Math.max(0, Math.round(y)); j < Math.min(this.height, Math.round(y + h)); j++) {
      for (let i = Math.max(0, Math.round(x)); i < Math.min(this.width, Math.round(x + w)); i++) this.setPixel(i, j, color);
    }
  }

  /** A line `thickness` pixels wide; `dash` > 0 draws dash-pixel segments with equal gaps. */
  line(x0: number, y0: number, x1: number, y1: number, color: Rgb, thickness = 1, dash = 0): void {
    const steps = Math.max(1, Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))));
    const half = (thickness - 1) / 2;
    for (let s = 0; s <= steps; s++) {
      if (dash > 0 && Math.floor(s / dash) % 2 === 1) continue;
      const x = x0 + ((x1 - x0) * s) / steps;
      const y = y0 + ((y1 - y0) * s) / steps;
      this.fillRect(x - half, y - half, thickness, thickness, color);
    }
  }

  /** A filled square dot of side `size` centred at (x, y). */
  dot(x: number, y: number, color: Rgb, size = 3): void {
    this.fillRect(x - (size - 1) / 2, y - (size - 1) / 2, size, size, color);
  }

  /** Draws digits, '.', '-', 'k' and 'M' with their top-left corner at (x, y), each font pixel `scale` pixels wide. */
  text(x: number, y: number, s: string, color: Rgb, scale = 2): void {
    [...s].forEach((ch, k) => {
      const glyph = GLYPHS[ch];
      if (!glyph) throw new Error(`the plot font has no glyph for "${ch}"`);
      for (let bit = 0; bit < 15; bit++) {
        if (glyph[bit] === '1') this.fillRect(x + (k * 4 + (bit % 3)) * scale, y + Math.floor(bit / 3) * scale, scale, scale, color);
      }
    });
  }

  /** Width in pixels of `text(s)` at `scale`. */
  static textWidth(s: string, scale = 2): number {
    return (s.length * 4 - 1) * scale;
  }

  toPng(): Buffer {
    const png = new PNG({ width: this.width, height: this.height });
    png.data = Buffer.from(this.data.buffer, this.data.byteOffset, this.data.byteLength);
    return PNG.sync.write(png);
  }
}
