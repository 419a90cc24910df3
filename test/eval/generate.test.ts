/**
 * Sampling at scale: image i comes from seed i whatever the batch, so batches of any size, a split run and
 * the stochastic sampler's fresh noise all give the same images bit for bit on the CPU.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { type GenerateOptions, generateImages } from '../../src/eval/generate.js';
import { sample } from '../../src/diffusion/sample.js';
import { toUint8Images } from '../../src/data/grid.js';
import { TINY_PARTITION, tinyMultistage } from './tiny-model.js';

T.setBackend(cpuBackend());
const { net } = tinyMultistage();

async function draw(options: Partial<GenerateOptions>): Promise<{ pixels: Buffer; firsts: number[]; evaluationsPerStage: number[] }> {
  const parts: Buffer[] = [];
  const firsts: number[] = [];
  const summary = await generateImages({
    model: (x, s) => net.forward(x, s),
    shape: [3, 8, 8],
    partition: TINY_PARTITION,
    sampler: { name: 'heun', churn: 10, sMin: 0.05, sMax: 50, sNoise: 1.003 },
    steps: 3,
    count: 12,
    batch: 5,
    sink: (b) => {
      firsts.push(b.first);
      assert.deepEqual([b.height, b.width, b.channels], [8, 8, 3]);
      parts.push(Buffer.from(b.pixels));
    },
    ...options,
  });
  assert.equal(summary.count, Buffer.concat(parts).length / 192);
  return { pixels: Buffer.concat(parts), firsts, evaluationsPerStage: summary.evaluationsPerStage };
}

test('image i is the same for any batch size and in any part of a split run (stochastic sampler included)', async () => {
  const whole = await draw({ batch: 5 });
  assert.deepEqual(whole.firsts, [0, 5, 10]);
  assert.deepEqual((await draw({ batch: 12 })).pixels, whole.pixels);
  assert.deepEqual((await draw({ batch: 1 })).pixels, whole.pixels);
  const part = await draw({ first: 7, count: 4, batch: 3 });
  assert.deepEqual(part.firsts, [7, 10]);
  assert.deepEqual(part.pixels, whole.pixels.subarray(7 * 192, 11 * 192));
  // Heun with 3 steps (sigma 80, 2.52, 0.002): 5 evaluations per image.
  assert.equal(whole.evaluationsPerStage.reduce((a, b) => a + b), 5);
});

test('the seed offset shifts the seeds: seed 3 image 0 is seed 0 image 3', async () => {
  const whole = await draw({});
  const shifted = await draw({ seed: 3, count: 4, batch: 4 });
  assert.deepEqual(shifted.pixels, whole.pixels.subarray(3 * 192, 7 * 192));
});

test('image i is what the library sample() draws from seeds [i]: the per-image generator feeds noise and churn', async () => {
  const whole = await draw({});
  const one = sample({ model: (x, s) => net.forward(x, s), shape: [3, 8, 8], seeds: [4], sampler: { name: 'heun', churn: 10, sMin: 0.05, sMax: 50, sNoise: 1.003 }, steps: 3 });
  assert.deepEqual(Buffer.from(toUint8Images(one.images).pixels), whole.pixels.subarray(4 * 192, 5 * 192));
  const batchSeed = sample({ model: (x, s) => net.forward(x, s), shape: [3, 8, 8], batch: 1, seed: 4, steps: 3 });
  assert.notDeepEqual(batchSeed.images.toFloat32Array(), one.images.toFloat32Array());
});

test('bad counts are refused before any work', async () => {
  for (const [change, message] of [[{ count: 0 }, /count must be a whole number >= 1/], [{ batch: 2.5 }, /batch must be/], [{ first: -1 }, /first must be/]] as const) {
    await assert.rejects(draw(change), message);
  }
});
