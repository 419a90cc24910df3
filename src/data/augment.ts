/**
 * EDM's augmentation pipeline (AugmentPipe of NVlabs/edm, after StyleGAN2-ADA) with its CIFAR-10 settings,
 * on the host: an x-flip of every other image, and with probability p each a y-flip, an isotropic scaling,
 * a rotation, an anisotropic scaling and a fractional translation. The geometric ones make one affine map
 * per image, executed as EDM does: reflect padding, 2x upsampling with the sym6 wavelet's low-pass filter,
 * bilinear resampling, 2x downsampling with the same filter and a crop. Each image also gets EDM's 9
 * augmentation labels, which the network's `map_augment` layer adds to its embedding so that it can tell
 * augmented images from real ones; sampling passes none (zero labels) and so draws un-augmented images.
 *
 * EDM resamples every image of a batch, those whose map is the identity too; for them the filters' up- and
 * downsampling cancel (sym6 is orthogonal) and give the image back up to rounding, which is why they are
 * copied here instead. With p = 0.12 about 40% of the images are resampled. EDM pads all images of a batch
 * by the largest margin any of them needs; here each image by its own, which reaches the same pixels.
 */

import { Generator } from '../tensor/random.js';
import { imagesToFloat } from './images-to-tensor.js';

/** EDM's augmentation labels: xflip, yflip, scale, rotation (cos - 1, sin), anisotropy (2), translation (2). */
export const AUGMENT_LABEL_DIM = 9;

/** EDM's standard deviations and ranges (AugmentPipe's defaults, which its CIFAR-10 setup keeps). */
const SCALE_STD = 0.2;
const ANISO_STD = 0.2;
const ANISO_ROTATE_PROB = 0.5;
const TRANSLATE_STD = 0.125;

/** Low-pass decomposition filter of the sym6 wavelet. */
const SYM6 = [
  0.015404109327027373, 0.0034907120842174702, -0.11799011114819057, -0.048311742585633, 0.4910559419267466, 0.787641141030194, 0.3379294217276218,
  -0.07263752278646252, -0.021060292512300564, 0.04472490177066578, 0.0017677118642428036, -0.007800708325034148,
];
/** Padding, in input pixels, around the resampled area for the filters' reach. */
const FILTER_PAD = SYM6.length / 4;

/** The random choices for one image; zeros mean "not applied". */
export interface AugmentParams {
  xflip: boolean;
  yflip: boolean;
  /** log2 of the isotropic scale, in units of its standard deviation (0.2). */
  scale: number;
  /** Rotation angle in radians. */
  rotate: number;
  /** log2 of the anisotropic scale in units of its standard deviation (0.2), and the angle of its axis. */
  aniso: number;
  anisoAngle: number;
  /** Translation in units of 0.125 times the image width / height. */
  translateX: number;
  translateY: number;
}

export const NO_AUGMENTATION: Readonly<AugmentParams> = { xflip: false, yflip: false, scale: 0, rotate: 0, aniso: 0, anisoAngle: 0, translateX: 0, translateY: 0 };

/** A source of host random numbers (the trainer passes its seeded Philox generator). */
export interface HostRandom {
  uniformHost(count: number): Float64Array;
  normalHost(count: number): Float64Array;
}

/** Uniforms and normals drawn per image, always as many, so that the streams advance alike whatever is drawn. */
const UNIFORMS_PER_IMAGE = 10;
const NORMALS_PER_IMAGE = 4;

export interface AugmentedBatch {
  /** NCHW float32, the input's shape. */
  images: Float32Array;
  /** [N, AUGMENT_LABEL_DIM] float32. */
  labels: Float32Array;
}

type Matrix = number[]; // 3x3, row-major

const multiply = (a: Matrix, b: Matrix): Matrix =>
  Array.from({ length: 9 }, (_, k) => {
    const r = Math.floor(k / 3);
    const c = k % 3;
    return a[r * 3] * b[c] + a[r * 3 + 1] * b[3 + c] + a[r * 3 + 2] * b[6 + c];
  });
const chain = (...ms: Matrix[]): Matrix => ms.reduce(multiply);
const translation = (tx: number, ty: number): Matrix => [1, 0, tx, 0, 1, ty, 0, 0, 1];
const scaling = (sx: number, sy: number): Matrix => [sx, 0, 0, 0, sy, 0, 0, 0, 1];
const rotation = (theta: number): Matrix => [Math.cos(theta), -Math.sin(theta), 0, Math.sin(theta), Math.cos(theta), 0, 0, 0, 1];

export class AugmentPipe {
  constructor(readonly probability: number) {
    if (!(probability >= 0 && probability <= 1)) throw new Error(`augmentation probability must be in [0, 1], got ${probability}`);
  }

  /** EDM's random choices for `count` images (its CIFAR-10 multipliers: xflip 1e8, a fair coin for every image; the others 1). */
  draw(count: number, random: HostRandom): AugmentParams[] {
    const u = random.uniformHost(count * UNIFORMS_PER_IMAGE);
    const z = random.normalHost(count * NORMALS_PER_IMAGE);
    const p = this.probability;
    return Array.from({ length: count }, (_, i) => {
      const [xflip, yflipGate, yflip, scaleGate, rotateGate, rotate, anisoGate, axisGate, axis, translateGate] = u.subarray(i * UNIFORMS_PER_IMAGE, (i + 1) * UNIFORMS_PER_IMAGE);
      const [scale, aniso, translateX, translateY] = z.subarray(i * NORMALS_PER_IMAGE, (i + 1) * NORMALS_PER_IMAGE);
      const translate = translateGate < p;
      return {
        xflip: xflip < 0.5,
        yflip: yflipGate < p && yflip < 0.5,
        scale: scaleGate < p ? scale : 0,
        rotate: rotateGate < p ? (rotate * 2 - 1) * Math.PI : 0,
        aniso: anisoGate < p ? aniso : 0,
        anisoAngle: axisGate < ANISO_ROTATE_PROB ? (axis * 2 - 1) * Math.PI : 0,
        translateX: translate ? translateX : 0,
        translateY: translate ? translateY : 0,
      };
    });
  }

  /** Draws the choices for a batch and applies them. `images` are NCHW float32 (the [-1, 1] training range). */
  augment(images: Float32Array, shape: readonly [number, number, number, number], random: HostRandom): AugmentedBatch {
    return applyAugmentation(images, shape, this.draw(shape[0], random));
  }

  /**
   * The choices for batch number `batch` of a run (counted from 0 over all epochs), from its own place in
   * the Philox stream of `seed`: every batch's choices depend on its number alone, so batches can be
   * augmented ahead, in other threads, and a resumed run gets the same ones.
   */
  drawBatch(count: number, seed: number, batch: number, batchSize: number): AugmentParams[] {
    if (count > batchSize) throw new Error(`augment: a batch of ${count} images with batch size ${batchSize}`);
    const perBatch = Math.ceil((batchSize * UNIFORMS_PER_IMAGE) / 4) + Math.ceil((batchSize * NORMALS_PER_IMAGE) / 4);
    return this.draw(count, Generator.fromState({ seed, offset: batch * perBatch }));
  }

  /** drawBatch's choices applied to uint8 NCHW pixels, on this thread (what the loader's threads compute). */
  augmentBatch(pixels: Uint8Array, shape: readonly [number, number, number, number], seed: number, batch: number, batchSize: number): AugmentedBatch {
    return applyAugmentation(imagesToFloat(pixels), shape, this.drawBatch(shape[0], seed, batch, batchSize));
  }
}

/** The 9 labels EDM gives an image with these choices. */
export function augmentLabels(p: AugmentParams): number[] {
  return [
    Number(p.xflip),
    Number(p.yflip),
    p.scale,
    Math.cos(p.rotate) - 1,
    Math.sin(p.rotate),
    p.aniso * Math.cos(p.anisoAngle),
    p.aniso * Math.sin(p.anisoAngle),
    p.translateX,
    p.translateY,
  ];
}

/**
 * The inverse of an image's geometric map (output pixel -> input pixel, centred coordinates), composed in
 * EDM's order; null when it is the identity.
 */
export function inverseGeometry(p: AugmentParams, width: number, height: number): Matrix | null {
  if (p.scale === 0 && p.rotate === 0 && p.aniso === 0 && p.translateX === 0 && p.translateY === 0) return null;
  const s = 2 ** (p.scale * SCALE_STD);
  const a = 2 ** (p.aniso * ANISO_STD);
  return chain(
    scaling(1 / s, 1 / s),
    rotation(p.rotate),
    rotation(-p.anisoAngle),
    scaling(1 / a, a),
    rotation(p.anisoAngle),
    translation(-p.translateX * width * TRANSLATE_STD, -p.translateY * height * TRANSLATE_STD),
  );
}

/** Applies per-image choices to an NCHW float32 batch; returns new images and their labels. */
export function applyAugmentation(images: Float32Array, shape: readonly [number, number, number, number], params: readonly AugmentParams[]): AugmentedBatch {
  const [n, channels, height, width] = shape;
  if (images.length !== n * channels * height * width) throw new Error(`augment: ${images.length} values for a batch of shape [${shape.join(', ')}]`);
  if (params.length !== n) throw new Error(`augment: ${params.length} augmentation choices for ${n} images`);
  const out = new Float32Array(images.length);
  const labels = new Float32Array(n * AUGMENT_LABEL_DIM);
  const size = channels * height * width;
  params.forEach((p, i) => {
    labels.set(augmentLabels(p), i * AUGMENT_LABEL_DIM);
    const image = out.subarray(i * size, (i + 1) * size);
    flipInto(image, images.subarray(i * size, (i + 1) * size), channels, height, width, p.xflip, p.yflip);
    const inverse = inverseGeometry(p, width, height);
    if (inverse) image.set(resample(image, channels, height, width, inverse));
  });
  return { images: out, labels };
}

function flipInto(dst: Float32Array, src: Float32Array, channels: number, height: number, width: number, xflip: boolean, yflip: boolean): void {
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      const from = (c * height + (yflip ? height - 1 - y : y)) * width;
      const to = (c * height + y) * width;
      for (let x = 0; x < width; x++) dst[to + x] = src[from + (xflip ? width - 1 - x : x)];
    }
  }
}

/** A channel-first image with its size. */
interface Plane {
  data: Float32Array;
  channels: number;
  height: number;
  width: number;
}

/**
 * EDM's execution of a geometric map `inverse` (output -> input, in pixels centred on the image): pad by
 * reflection as far as the map reaches, upsample 2x, sample bilinearly (zeros outside), downsample 2x, crop.
 */
export function resample(image: Float32Array, channels: number, height: number, width: number, inverse: Matrix): Float32Array {
  const cx = (width - 1) / 2;
  const cy = (height - 1) / 2;
  // How far the map reaches beyond the image on each side: its image of the corners, plus the filters' pad.
  let [x0, y0, x1, y1] = [-Infinity, -Infinity, -Infinity, -Infinity];
  for (const [px, py] of [[-cx, -cy], [cx, -cy], [cx, cy], [-cx, cy]]) {
    const x = inverse[0] * px + inverse[1] * py + inverse[2];
    const y = inverse[3] * px + inverse[4] * py + inverse[5];
    [x0, y0, x1, y1] = [Math.max(x0, -x), Math.max(y0, -y), Math.max(x1, x), Math.max(y1, y)];
  }
  const margin = (m: number, c: number, size: number) => Math.ceil(Math.min(Math.max(m + FILTER_PAD * 2 - c, 0), size - 1));
  const [mx0, my0, mx1, my1] = [margin(x0, cx, width), margin(y0, cy, height), margin(x1, cx, width), margin(y1, cy, height)];
  const up = upsample(reflectPad({ data: image, channels, height, width }, mx0, mx1, my0, my1));
  // From output pixels of the 2x grid to input pixels of the upsampled image, as EDM composes it.
  const outW = (width + FILTER_PAD * 2) * 2;
  const outH = (height + FILTER_PAD * 2) * 2;
  const m = chain(
    translation(up.width / 2 - 0.5, up.height / 2 - 0.5),
    translation(-0.5, -0.5),
    scaling(2, 2),
    translation((mx0 - mx1) / 2, (my0 - my1) / 2),
    inverse,
    scaling(0.5, 0.5),
    translation(0.5, 0.5),
    translation(0.5 - outW / 2, 0.5 - outH / 2),
  );
  return downsampleAndCrop(sampleBilinear(up, m, outH, outW), height, width).data;
}

/** PyTorch's 'reflect' padding (the edge pixel not repeated). */
function reflectPad(p: Plane, left: number, right: number, top: number, bottom: number): Plane {
  const width = p.width + left + right;
  const height = p.height + top + bottom;
  const data = new Float32Array(p.channels * height * width);
  const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  const columns = Int32Array.from({ length: width }, (_, x) => reflect(x - left, p.width));
  for (let c = 0; c < p.channels; c++) {
    for (let y = 0; y < height; y++) {
      const src = (c * p.height + reflect(y - top, p.height)) * p.width;
      const dst = (c * height + y) * width;
      for (let x = 0; x < width; x++) data[dst + x] = p.data[src + columns[x]];
    }
  }
  return { data, channels: p.channels, height, width };
}

/**
 * The two 1-D filters of EDM's resampling, along either axis of a plane: 2x upsampling (zeros between the
 * samples, then the sym6 filter as a true convolution, EDM's correlation with the reversed taps: n samples
 * become 2n, output i = sum_j x[j] SYM6[i - 2j + 5]) and 2x downsampling (the filter as a correlation with
 * stride 2: output i = sum_j x[j] SYM6[j - 2i + 5]); `first` skips outputs that EDM crops away.
 */
function filterAxis(p: Plane, axis: 'x' | 'y', size: number, up: boolean, first = 0): Plane {
  const n = axis === 'x' ? p.width : p.height;
  const height = axis === 'y' ? size : p.height;
  const width = axis === 'x' ? size : p.width;
  const data = new Float32Array(p.channels * height * width);
  const taps = SYM6.length;
  // For each output, its first input and the weights of its inputs (those whose tap lies in [0, taps)).
  const firstInput = new Int32Array(size);
  const weights = Array.from({ length: size }, (_, i) => {
    const o = i + first;
    const lo = Math.max(0, up ? Math.ceil((o + 5 - taps + 1) / 2) : 2 * o - 5);
    const hi = Math.min(n - 1, up ? Math.floor((o + 5) / 2) : 2 * o - 5 + taps - 1);
    firstInput[i] = lo;
    return Float32Array.from({ length: Math.max(0, hi - lo + 1) }, (_, k) => SYM6[up ? o - 2 * (lo + k) + 5 : lo + k - 2 * o + 5]);
  });
  if (axis === 'y') {
    // whole rows at once: output row i += w * input row j
    for (let c = 0; c < p.channels; c++) {
      for (let i = 0; i < size; i++) {
        const dst = (c * height + i) * width;
        const w = weights[i];
        for (let k = 0; k < w.length; k++) {
          const src = (c * p.height + firstInput[i] + k) * p.width;
          const wk = w[k];
          for (let x = 0; x < width; x++) data[dst + x] += wk * p.data[src + x];
        }
      }
    }
  } else {
    for (let row = 0; row < p.channels * p.height; row++) {
      const src = row * p.width;
      const dst = row * width;
      for (let i = 0; i < size; i++) {
        const w = weights[i];
        const at = src + firstInput[i];
        let acc = 0;
        for (let k = 0; k < w.length; k++) acc += w[k] * p.data[at + k];
        data[dst + i] = acc;
      }
    }
  }
  return { data, channels: p.channels, height, width };
}

function upsample(p: Plane): Plane {
  return filterAxis(filterAxis(p, 'x', 2 * p.width, true), 'y', 2 * p.height, true);
}

/** 2x downsampling of the 2x grid, keeping the height x width outputs past EDM's crop of FILTER_PAD. */
function downsampleAndCrop(p: Plane, height: number, width: number): Plane {
  return filterAxis(filterAxis(p, 'y', height, false, FILTER_PAD), 'x', width, false, FILTER_PAD);
}

/** grid_sample (bilinear, zeros outside, align_corners=False) at m x (output pixel x, y, 1), in input pixels. */
function sampleBilinear(p: Plane, m: Matrix, height: number, width: number): Plane {
  const data = new Float32Array(p.channels * height * width);
  const planeSize = p.height * p.width;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const sx = m[0] * x + m[1] * y + m[2];
      const sy = m[3] * x + m[4] * y + m[5];
      const fx = Math.floor(sx);
      const fy = Math.floor(sy);
      if (fx < -1 || fy < -1 || fx >= p.width || fy >= p.height) continue;
      const ax = sx - fx;
      const ay = sy - fy;
      // The four neighbours' weights, zero for those outside the image.
      const inX0 = fx >= 0;
      const inX1 = fx + 1 < p.width;
      const inY0 = fy >= 0;
      const inY1 = fy + 1 < p.height;
      const w00 = inY0 && inX0 ? (1 - ay) * (1 - ax) : 0;
      const w01 = inY0 && inX1 ? (1 - ay) * ax : 0;
      const w10 = inY1 && inX0 ? ay * (1 - ax) : 0;
      const w11 = inY1 && inX1 ? ay * ax : 0;
      const base = Math.max(fy, 0) * p.width + Math.max(fx, 0);
      const dx = inX0 && inX1 ? 1 : 0;
      const dy = inY0 && inY1 ? p.width : 0;
      const out = y * width + x;
      for (let c = 0; c < p.channels; c++) {
        const o = c * planeSize + base;
        data[c * height * width + out] = w00 * p.data[o] + w01 * p.data[o + dx] + w10 * p.data[o + dy] + w11 * p.data[o + dx + dy];
      }
    }
  }
  return { data, channels: p.channels, height, width };
}
