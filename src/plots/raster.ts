/**
 * A small RGBA raster for PNG plots: filled rectangles, lines, dots and short labels in a 3x5 pixel font,
 * encoded as PNG through pngjs. Just enough to draw an axis box with ticks, a title and a legend; no
 * plotting library is a dependency of the project.
 */
import { PNG } from 'pngjs';
import type { Rgb } from './chart.js';

/**
 * 3x5 glyphs, one string of 15 bits (row-major, '1' = ink) per character: digits, capitals (lower case
 * draws as capitals, except the k of thousands) and some punctuation; anything else draws as '?'.
 */
const GLYPHS: Record<string, string> = {
  '0': '111101101101111', '1': '010110010010111', '2': '111001111100111', '3': '111001111001111',
  '4': '101101111001001', '5': '111100111001111', '6': '111100111101111', '7': '111001001001001',
  '8': '111101111101111', '9': '111101111001111', '.': '000000000000010', '-': '000000111000000',
  k: '100101110101101',
  A: '010101111101101', B: '110101110101110', C: '011100100100011', D: '110101101101110', E: '111100110100111',
  F: '111100110100100', G: '011100101101011', H: '101101111101101', I: '111010010010111', J: '001001001101010',
  K: '101101110101101', L: '100100100100111', M: '101111111101101', N: '110101101101101', O: '010101101101010',
  P: '110101110100100', Q: '010101101110011', R: '110101110101101', S: '011100010001110', T: '111010010010010',
  U: '101101101101111', V: '101101101101010', W: '101101111111101', X: '101101010101101', Y: '101101010010010',
  Z: '111001010100111',
  ' ': '000000000000000', '/': '001001010100100', ':': '000010000010000', '(': '010100100100010',
  ')': '010001001001010', ',': '000000000010100', '+': '000010111010000', '_': '000000000000111',
  '=': '000111000111000', '%': '101001010100101', "'": '010010000000000', '?': '111001011000010',
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

  /** Draws text with its top-left corner at (x, y), each font pixel `scale` pixels wide. */
  text(x: number, y: number, s: string, color: Rgb, scale = 2): void {
    [...s].forEach((ch, k) => {
      const glyph = GLYPHS[ch] ?? GLYPHS[ch.toUpperCase()] ?? GLYPHS['?'];
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
