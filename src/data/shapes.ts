import { Generator } from '../tensor/random.js';
import { checkIndex, type Dataset, type ImageShape, type Indices } from './dataset.js';

export const SHAPE_CLASS_NAMES = ['circle', 'square', 'triangle', 'cross'] as const;

export interface ShapesOptions {
  seed?: number;
  /** Number of images (default 10000); any length, since images are made on demand. */
  length?: number;
  /** Side in pixels (default 32); 16 keeps the shapes recognisable. */
  size?: number;
}

/** Uniforms one image draws; each image owns its own slice of the seed's Philox stream. */
const DRAWS_PER_IMAGE = 12;
/** Sub-pixel samples per axis: coverage-based antialiasing keeps small shapes smooth rather than jagged. */
const SUPERSAMPLING = 4;
/** Foreground hues, evenly spaced from red. */
const PALETTE_HUES = 6;

/** What image i shows; every field is drawn from (seed, i) alone. */
interface ShapeSpec {
  label: number;
  centreX: number;
  centreY: number;
  /** Circumradius in pixels (0.35 to 0.45 of the side): every shape fits in the circle of this radius. */
  radius: number;
  angle: number;
  foreground: [number, number, number];
  background: [number, number, number];
}

/**
 * A built-in procedural dataset: one bright shape (circle, square, triangle or cross) on a dark plain
 * background, at a random position, size, rotation and colour (one of six hues). Image i is a pure
 * function of (seed, i) made when asked for, so it needs no files and any length costs nothing; the
 * quickstart trains on it.
 */
export class ShapesDataset implements Dataset {
  readonly name: string;
  readonly length: number;
  readonly imageShape: ImageShape;
  readonly classNames = SHAPE_CLASS_NAMES;
  readonly seed: number;
  private readonly size: number;

  constructor(options: ShapesOptions = {}) {
    this.seed = options.seed ?? 0;
    this.length = options.length ?? 10000;
    this.size = options.size ?? 32;
    if (!Number.isInteger(this.length) || this.length < 1) throw new Error(`shapes length must be a positive integer, got ${this.length}`);
    if (!Number.isInteger(this.size) || this.size < 8) throw new Error(`shapes size must be an integer of at least 8 pixels, got ${this.size}`);
    new Generator(this.seed); // validates the seed now rather than at the first batch
    this.name = `shapes${this.size}`;
    this.imageShape = [3, this.size, this.size];
  }

  getBatch(indices: Indices): Uint8Array {
    const plane = this.size * this.size;
    const batch = new Uint8Array(indices.length * 3 * plane);
    for (let k = 0; k < indices.length; k++) this.render(this.spec(indices[k]), batch.subarray(k * 3 * plane, (k + 1) * 3 * plane));
    return batch;
  }

  getLabels(indices: Indices): Int32Array {
    return Int32Array.from(indices, (i) => this.spec(i).label);
  }

  private spec(index: number): ShapeSpec {
    checkIndex(this, index);
    const u = Generator.fromState({ seed: this.seed, offset: (index * DRAWS_PER_IMAGE) / 4 }).uniformHost(DRAWS_PER_IMAGE);
    const size = this.size;
    const radius = size * (0.35 + 0.1 * u[1]);
    // Keep the whole shape inside the image, with half a pixel to spare for the antialiased edge.
    const margin = radius + 0.5;
    const spread = Math.max(0, size - 2 * margin);
    return {
      label: Math.floor(u[0] * SHAPE_CLASS_NAMES.length),
      radius,
      centreX: margin + spread * u[2],
      centreY: margin + spread * u[3],
      angle: 2 * Math.PI * u[4],
      // Bright saturated shapes in one of six hues (red, yellow, green, cyan, blue, magenta; saturation and
      // brightness vary a little) on dark greyish backgrounds: always high contrast. Six hues rather than
      // any hue make a shape's colour a choice among a few, which a small model trained for minutes
      // learns to keep uniform over the shape.
      foreground: hsvToRgb(Math.floor(u[5] * PALETTE_HUES) / PALETTE_HUES, 0.7 + 0.3 * u[6], 0.9 + 0.1 * u[7]),
      background: hsvToRgb(u[8], 0.3 * u[9], 0.05 + 0.15 * u[10]),
    };
  }

  /** Draws a spec into a CHW image, blending by the fraction of sub-pixel samples inside the shape. */
  private render(spec: ShapeSpec, out: Uint8Array): void {
    const size = this.size;
    const inside = insideTest(spec);
    const cos = Math.cos(-spec.angle);
    const sin = Math.sin(-spec.angle);
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        let hits = 0;
        for (let sy = 0; sy < SUPERSAMPLING; sy++) {
          for (let sx = 0; sx < SUPERSAMPLING; sx++) {
            const dx = x + (sx + 0.5) / SUPERSAMPLING - spec.centreX;
            const dy = y + (sy + 0.5) / SUPERSAMPLING - spec.centreY;
            // In the shape's own frame: unrotated, centred, in units of its radius.
            if (inside((cos * dx - sin * dy) / spec.radius, (sin * dx + cos * dy) / spec.radius)) hits++;
          }
        }
        const coverage = hits / (SUPERSAMPLING * SUPERSAMPLING);
        for (let c = 0; c < 3; c++) {
          out[(c * size + y) * size + x] = Math.round(spec.background[c] + (spec.foreground[c] - spec.background[c]) * coverage);
        }
      }
    }
  }
}

const HALF_SQRT3 = Math.sqrt(3) / 2;

/** Whether a point (u, v) of the shape's frame, in units of the circumradius, lies inside the shape. */
function insideTest(spec: ShapeSpec): (u: number, v: number) => boolean {
  switch (SHAPE_CLASS_NAMES[spec.label]) {
    case 'circle':
      return (u, v) => u * u + v * v <= 1;
    case 'square':
      return (u, v) => Math.abs(u) <= Math.SQRT1_2 && Math.abs(v) <= Math.SQRT1_2;
    case 'triangle':
      // Equilateral, vertices at (0, -1) and (+-sqrt(3)/2, 1/2): a point is inside when its projection on
      // each vertex direction is at least minus the inradius, 1/2.
      return (u, v) => -v >= -0.5 && HALF_SQRT3 * u + 0.5 * v >= -0.5 && -HALF_SQRT3 * u + 0.5 * v >= -0.5;
    case 'cross': {
      const halfArm = 0.3;
      return (u, v) => (Math.abs(u) <= halfArm && Math.abs(v) <= 1) || (Math.abs(v) <= halfArm && Math.abs(u) <= 1);
    }
  }
}

/** HSV in [0, 1] to 0-255 RGB. */
function hsvToRgb(hue: number, saturation: number, value: number): [number, number, number] {
  const channel = (n: number) => {
    const k = (n + hue * 6) % 6;
    return 255 * value * (1 - saturation * Math.max(0, Math.min(k, 4 - k, 1)));
  };
  return [channel(5), channel(3), channel(1)];
}
