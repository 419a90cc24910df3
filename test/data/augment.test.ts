/**
 * EDM's augmentation pipeline on the host: against a numpy port of EDM's own (test/fixtures/augment), exact
 * flips and integer translations, 90-degree rotations, the resampling's identity (the sym6 filters
 * cancel), every geometric map against the analytic transform of a smooth image, EDM's label encoding, the
 * draw's probabilities, its determinism, and the loader's threads.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Generator } from '../../src/tensor/index.js';
import { DataLoader, type LoaderBatch } from '../../src/data/loader.js';
import { InMemoryDataset } from '../../src/data/in-memory-dataset.js';
import { AugmentThreads } from '../../src/data/augment-thread.js';
import { AUGMENT_LABEL_DIM, AugmentPipe, type AugmentParams, NO_AUGMENTATION, applyAugmentation, augmentLabels, inverseGeometry, resample } from '../../src/data/augment.js';

const [C, H, W] = [3, 32, 32];

/** A batch of one image with distinct, unstructured values (so any misplaced pixel shows). */
function noiseImage(seed: number): Float32Array {
  return Float32Array.from(new Generator(seed).uniformHost(C * H * W), (u) => u * 2 - 1);
}

/** A smooth image: an anisotropic Gaussian blob per channel, off centre, as a function of centred pixel coordinates. */
const blob = (c: number, x: number, y: number) => Math.exp(-((x - 1.5 + c) ** 2) / (2 * 3.5 ** 2) - ((y + 2 - c) ** 2) / (2 * 2.5 ** 2));
const cx = (W - 1) / 2;
const cy = (H - 1) / 2;
function blobImage(): Float32Array {
  const out = new Float32Array(C * H * W);
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) out[(c * H + y) * W + x] = blob(c, x - cx, y - cy);
  return out;
}

const params = (p: Partial<AugmentParams>): AugmentParams => ({ ...NO_AUGMENTATION, ...p });
const augmentOne = (image: Float32Array, p: Partial<AugmentParams>) => applyAugmentation(image, [1, C, H, W], [params(p)]);

function maxDifference(a: Float32Array, expected: (c: number, y: number, x: number) => number): number {
  let worst = 0;
  for (let c = 0; c < C; c++) for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) worst = Math.max(worst, Math.abs(a[(c * H + y) * W + x] - expected(c, y, x)));
  return worst;
}

test('flips are exact mirror images and no augmentation copies the image', () => {
  const image = noiseImage(1);
  const at = (c: number, y: number, x: number) => image[(c * H + y) * W + x];
  assert.equal(maxDifference(augmentOne(image, {}).images, at), 0);
  assert.equal(maxDifference(augmentOne(image, { xflip: true }).images, (c, y, x) => at(c, y, W - 1 - x)), 0);
  assert.equal(maxDifference(augmentOne(image, { yflip: true }).images, (c, y, x) => at(c, H - 1 - y, x)), 0);
  assert.equal(maxDifference(augmentOne(image, { xflip: true, yflip: true }).images, (c, y, x) => at(c, H - 1 - y, W - 1 - x)), 0);
});

test('resampling with the identity map gives the image back: the sym6 up- and downsampling cancel', () => {
  const image = noiseImage(2);
  const out = resample(image, C, H, W, [1, 0, 0, 0, 1, 0, 0, 0, 1]);
  assert.ok(maxDifference(out, (c, y, x) => image[(c * H + y) * W + x]) < 1e-5);
});

test('an integer translation moves every pixel exactly (reflected at the border); a quarter turn nearly', () => {
  const image = noiseImage(3);
  const at = (c: number, y: number, x: number) => image[(c * H + y) * W + x];
  // 0.5 x 0.125 x 32 = 2 pixels right and -0.25 x 0.125 x 32 = 1 pixel up; what comes in is reflected.
  const shifted = augmentOne(image, { translateX: 0.5, translateY: -0.25 }).images;
  const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  assert.ok(maxDifference(shifted, (c, y, x) => at(c, reflect(y + 1, H), reflect(x - 2, W))) < 1e-5, 'integer translation');
  // The map's inverse takes output (x, y) to input (-y, x) about the centre: output row y, column x shows
  // input row x, column W - 1 - y. Not exactly: turning reverses an axis, and sym6 is only nearly
  // symmetric, so its up- and downsampling no longer cancel exactly (EDM's pipeline alike); on a smooth
  // image the difference stays small everywhere, and on noise it is large.
  const smooth = blobImage();
  const turned = augmentOne(smooth, { rotate: Math.PI / 2 }).images;
  assert.ok(maxDifference(turned, (c, y, x) => smooth[(c * H + x) * W + W - 1 - y]) < 0.02, 'rotation by 90 degrees');
  assert.ok(maxDifference(turned, (c, y, x) => smooth[(c * H + y) * W + x]) > 0.5, 'the image did turn');
});

test("every geometric map matches a float64 numpy port of EDM's torch pipeline (scripts/make-augment-fixture.py)", () => {
  const fixture = JSON.parse(readFileSync(resolve(process.cwd(), 'test/fixtures/augment/edm-geometric.json'), 'utf8')) as {
    image: number[][][];
    cases: { s: number; rot: number; aniso: number; r: number; tx: number; ty: number }[];
    out: number[][][][];
  };
  const [c, h, w] = [fixture.image.length, fixture.image[0].length, fixture.image[0][0].length];
  const image = Float32Array.from(fixture.image.flat(2));
  assert.equal(fixture.cases.length, 5);
  fixture.cases.forEach((k, i) => {
    const p = params({ scale: k.s, rotate: k.rot, aniso: k.aniso, anisoAngle: k.r, translateX: k.tx, translateY: k.ty });
    const out = applyAugmentation(image, [1, c, h, w], [p]).images;
    const expected = fixture.out[i].flat(2);
    const worst = expected.reduce((m, v, j) => Math.max(m, Math.abs(v - out[j])), 0);
    assert.ok(worst < 2e-6, `${JSON.stringify(k)}: off EDM's pipeline by ${worst}`);
  });
});

test('every geometric map, alone and combined, samples a smooth image where the analytic map says', () => {
  const image = blobImage();
  const cases: Partial<AugmentParams>[] = [
    { scale: 1.5 },
    { scale: -2 },
    { rotate: 0.7 },
    { rotate: -2.4 },
    { aniso: 1.8, anisoAngle: 0 },
    { aniso: -1.2, anisoAngle: 0.9 },
    { translateX: 0.3, translateY: -0.45 },
    { scale: 0.8, rotate: 1.1, aniso: -0.9, anisoAngle: -2, translateX: -0.2, translateY: 0.15 },
  ];
  for (const p of cases) {
    const inverse = inverseGeometry(params(p), W, H)!;
    const out = augmentOne(image, p).images;
    // Away from the border, where reflected padding stands in for the blob's tails. The bound allows for
    // bilinear interpolation on the 2x grid and for sym6's slight asymmetry (see the quarter turn).
    let worst = 0;
    for (let c = 0; c < C; c++) {
      for (let y = 6; y < H - 6; y++) {
        for (let x = 6; x < W - 6; x++) {
          const [xo, yo] = [x - cx, y - cy];
          const expected = blob(c, inverse[0] * xo + inverse[1] * yo + inverse[2], inverse[3] * xo + inverse[4] * yo + inverse[5]);
          worst = Math.max(worst, Math.abs(out[(c * H + y) * W + x] - expected));
        }
      }
    }
    assert.ok(worst < 0.03, `${JSON.stringify(p)}: off the analytic map by ${worst}`);
  }
  // the analytic maps themselves: a scale of 2^(0.2 w), anisotropy 2^(0.2 w) along its axis, translation 0.125 x size per unit
  const s = inverseGeometry(params({ scale: 5 }), W, H)!;
  assert.deepEqual(s.map((v) => Math.round(v * 1e12) / 1e12), [0.5, 0, 0, 0, 0.5, 0, 0, 0, 1]);
  const a = inverseGeometry(params({ aniso: 5, anisoAngle: 0 }), W, H)!;
  assert.deepEqual(a.map((v) => Math.round(v * 1e12) / 1e12), [0.5, 0, 0, 0, 2, 0, 0, 0, 1]);
  const t = inverseGeometry(params({ translateX: 1, translateY: -2 }), W, H)!;
  assert.deepEqual(t, [1, 0, -4, 0, 1, 8, 0, 0, 1]);
  assert.equal(inverseGeometry(params({ xflip: true, yflip: true, anisoAngle: 1 }), W, H), null, 'an axis without anisotropy maps nothing');
});

test("EDM's 9 labels: xflip, yflip, scale, cos - 1 and sin of the rotation, anisotropy along its axis, translation", () => {
  const p = params({ xflip: true, yflip: false, scale: -0.7, rotate: Math.PI / 3, aniso: 1.5, anisoAngle: Math.PI / 6, translateX: 0.25, translateY: -1.25 });
  const expected = [1, 0, -0.7, -0.5, Math.sqrt(3) / 2, 1.5 * (Math.sqrt(3) / 2), 0.75, 0.25, -1.25];
  augmentLabels(p).forEach((v, i) => assert.ok(Math.abs(v - expected[i]) < 1e-12, `label ${i}: ${v} vs ${expected[i]}`));
  const { labels } = applyAugmentation(new Float32Array(2 * C * H * W), [2, C, H, W], [NO_AUGMENTATION, p]);
  assert.equal(labels.length, 2 * AUGMENT_LABEL_DIM);
  assert.deepEqual([...labels.subarray(0, AUGMENT_LABEL_DIM)], new Array(AUGMENT_LABEL_DIM).fill(0));
  assert.deepEqual([...labels.subarray(AUGMENT_LABEL_DIM)], expected.map(Math.fround));
});

test('draws: a fair x-flip coin, each other augmentation with probability p; p = 0 leaves only x-flips; the streams advance alike', () => {
  const n = 20000;
  const p = 0.12;
  const draws = new AugmentPipe(p).draw(n, new Generator(7));
  const share = (f: (d: AugmentParams) => boolean) => draws.filter(f).length / n;
  const near = (got: number, want: number, what: string) => assert.ok(Math.abs(got - want) < 5 * Math.sqrt((want * (1 - want)) / n), `${what}: ${got} vs ${want}`);
  near(share((d) => d.xflip), 0.5, 'xflip');
  near(share((d) => d.yflip), p / 2, 'yflip');
  near(share((d) => d.scale !== 0), p, 'scale');
  near(share((d) => d.rotate !== 0), p, 'rotation');
  near(share((d) => d.aniso !== 0), p, 'anisotropy');
  near(share((d) => d.translateX !== 0), p, 'translation');
  assert.ok(draws.every((d) => (d.translateX === 0) === (d.translateY === 0)), 'both translation axes come together');
  near(share((d) => inverseGeometry(d, W, H) !== null), 1 - (1 - p) ** 4, 'resampled');
  const rotations = draws.filter((d) => d.rotate !== 0).map((d) => d.rotate);
  assert.ok(rotations.every((r) => Math.abs(r) <= Math.PI));
  const scales = draws.filter((d) => d.scale !== 0).map((d) => d.scale);
  const variance = scales.reduce((a, v) => a + v * v, 0) / scales.length;
  assert.ok(Math.abs(variance - 1) < 0.15, `scale draws have variance ${variance}, not a standard normal's`);

  const none = new AugmentPipe(0).draw(1000, new Generator(7));
  assert.ok(none.every((d) => inverseGeometry(d, W, H) === null && !d.yflip));
  const image = noiseImage(4);
  const g1 = new Generator(9);
  const g2 = new Generator(9);
  const a = new AugmentPipe(p).augment(image, [1, C, H, W], g1);
  const b = new AugmentPipe(p).augment(image, [1, C, H, W], g2);
  assert.deepEqual(a, b, 'the same stream gives the same augmentation');
  new AugmentPipe(0).draw(3, g1);
  new AugmentPipe(1).draw(3, g2);
  assert.deepEqual(g1.state(), g2.state(), 'a draw consumes as many numbers whatever p is');
  assert.throws(() => new AugmentPipe(1.5), /probability must be in \[0, 1\], got 1.5/);
  assert.throws(() => applyAugmentation(image, [2, C, H, W], [NO_AUGMENTATION, NO_AUGMENTATION]), /values for a batch/);
});

test('the loader augments each batch in a thread exactly as the pipe does from the batch number; a resumed loader gets the same batches', async () => {
  const count = 12;
  const pixels = Uint8Array.from(new Generator(11).uniformHost(count * C * H * W), (u) => Math.floor(u * 256));
  const dataset = new InMemoryDataset('noise', [C, H, W], pixels);
  const options = { batchSize: 4, seed: 2, augment: { probability: 0.6, seed: 5 } };
  const take = async (loader: DataLoader, n: number): Promise<LoaderBatch[]> => {
    const out: LoaderBatch[] = [];
    for await (const b of loader) {
      out.push(b);
      if (out.length === n) break;
    }
    return out;
  };
  const straight = await take(new DataLoader(dataset, options), 5);
  const pipe = new AugmentPipe(0.6);
  straight.forEach((b, k) => {
    assert.deepEqual(b.augmented, pipe.augmentBatch(b.images, b.shape, 5, k, 4), `batch ${k}`);
    assert.ok(b.augmented!.labels.some((v, i) => i % AUGMENT_LABEL_DIM !== 0 && v !== 0), `batch ${k} has augmentations besides x-flips`);
  });
  const first = new DataLoader(dataset, options);
  await take(first, 4);
  const [resumed] = await take(new DataLoader(dataset, { ...options, position: first.position() }), 1);
  assert.deepEqual(resumed.augmented, straight[4].augmented, 'the batch after a resume (the second epoch)');
});

test('split between threads, a batch is augmented as on one thread', async () => {
  const pixels = Uint8Array.from(new Generator(12).uniformHost(7 * C * H * W), (u) => Math.floor(u * 256));
  const threads = new AugmentThreads(0.5, 3, 8, 3);
  try {
    for (const batch of [0, 9]) assert.deepEqual(await threads.augment(pixels, [7, C, H, W], batch), new AugmentPipe(0.5).augmentBatch(pixels, [7, C, H, W], 3, batch, 8), `batch ${batch}`);
  } finally {
    threads.close();
  }
});

test("a data-parallel rank's share is augmented with the choices one process draws for those places of the batch", async () => {
  const pixels = Uint8Array.from({ length: 8 * C * H * W }, (_, i) => (i * 37) % 256);
  const positions = Int32Array.from([1, 4, 6]);
  const share = new Uint8Array(positions.length * C * H * W);
  positions.forEach((p, k) => share.set(pixels.subarray(p * C * H * W, (p + 1) * C * H * W), k * C * H * W));
  const threads = new AugmentThreads(0.5, 3, 8, 2);
  try {
    const whole = await threads.augment(pixels, [8, C, H, W], 5);
    const part = await threads.augment(share, [positions.length, C, H, W], 5, positions);
    positions.forEach((p, k) => {
      assert.deepEqual(part.images.subarray(k * C * H * W, (k + 1) * C * H * W), whole.images.subarray(p * C * H * W, (p + 1) * C * H * W), `image at ${p}`);
      assert.deepEqual(part.labels.subarray(k * AUGMENT_LABEL_DIM, (k + 1) * AUGMENT_LABEL_DIM), whole.labels.subarray(p * AUGMENT_LABEL_DIM, (p + 1) * AUGMENT_LABEL_DIM), `labels at ${p}`);
    });
    // Without the positions the share would get the choices of places 0, 1, 2: not what one process trains.
    const unplaced = await threads.augment(share, [positions.length, C, H, W], 5);
    assert.notDeepEqual(unplaced.labels, part.labels);
  } finally {
    threads.close();
  }
});
