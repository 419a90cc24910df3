import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DataLoader, type LoaderBatch, type LoaderOptions } from '../../src/data/loader.js';
import { InMemoryDataset } from '../../src/data/in-memory-dataset.js';
import type { Dataset } from '../../src/data/dataset.js';

/** Ten 1x1x2 images; image i is [i, 100 + i], so a flip shows as [100 + i, i]. Label = i % 3. */
function numbered(count = 10): InMemoryDataset {
  const images = new Uint8Array(count * 2);
  for (let i = 0; i < count; i++) images.set([i, 100 + i], 2 * i);
  return new InMemoryDataset('numbered', [1, 1, 2], images, Uint8Array.from({ length: count }, (_, i) => i % 3));
}

async function take(loader: DataLoader, count: number): Promise<LoaderBatch[]> {
  const batches: LoaderBatch[] = [];
  if (count === 0) return batches;
  for await (const batch of loader) {
    batches.push(batch);
    if (batches.length === count) break;
  }
  return batches;
}

const orderOf = (batches: LoaderBatch[]) => batches.flatMap((b) => [...b.indices]);

test('each epoch visits every index once, in a new order, and the batches carry the right images and labels', async () => {
  const loader = new DataLoader(numbered(), { batchSize: 3, seed: 5 });
  assert.equal(loader.batchesPerEpoch, 4);
  const batches = await take(loader, 8);
  assert.deepEqual(batches.map((b) => b.indices.length), [3, 3, 3, 1, 3, 3, 3, 1]);
  assert.deepEqual(batches.map((b) => [b.epoch, b.batchInEpoch]), [[0, 0], [0, 1], [0, 2], [0, 3], [1, 0], [1, 1], [1, 2], [1, 3]]);
  const first = orderOf(batches.slice(0, 4));
  const second = orderOf(batches.slice(4));
  const everyIndex = Array.from({ length: 10 }, (_, i) => i);
  assert.deepEqual([...first].sort((a, b) => a - b), everyIndex);
  assert.deepEqual([...second].sort((a, b) => a - b), everyIndex);
  assert.notDeepEqual(first, everyIndex, 'the first epoch is not shuffled');
  assert.notDeepEqual(second, first, 'the second epoch repeats the first order');
  for (const batch of batches) {
    assert.deepEqual(batch.shape, [batch.indices.length, 1, 1, 2]);
    assert.deepEqual([...batch.images], [...batch.indices].flatMap((i) => [i, 100 + i]), 'no flips unless asked');
    assert.deepEqual([...batch.labels!], [...batch.indices].map((i) => i % 3));
  }
});

test('dropLast gives only full batches of distinct images', async () => {
  const loader = new DataLoader(numbered(), { batchSize: 3, seed: 5, dropLast: true });
  assert.equal(loader.batchesPerEpoch, 3);
  const epoch = await take(loader, 3);
  assert.ok(epoch.every((b) => b.indices.length === 3));
  assert.equal(new Set(orderOf(epoch)).size, 9);
  assert.throws(() => new DataLoader(numbered(), { batchSize: 11, dropLast: true }), /numbered has 10 images, fewer than one batch of 11/);
});

test('the same seed gives the same batches; another seed another order', async () => {
  const run = async (seed: number) => orderOf(await take(new DataLoader(numbered(), { batchSize: 4, seed, flip: true }), 6));
  assert.deepEqual(await run(1), await run(1));
  assert.notDeepEqual(await run(1), await run(2));
});

test('flipping mirrors about half of the images, and only the ones it reports', async () => {
  const loader = new DataLoader(numbered(), { batchSize: 5, seed: 11, flip: true });
  let flips = 0;
  let images = 0;
  for (const batch of await take(loader, 40)) {
    [...batch.indices].forEach((i, k) => {
      const expected = batch.flipped[k] ? [100 + i, i] : [i, 100 + i];
      assert.deepEqual([...batch.images.subarray(2 * k, 2 * k + 2)], expected);
    });
    flips += batch.flipped.reduce((sum, f) => sum + f, 0);
    images += batch.indices.length;
  }
  assert.equal(images, 200);
  assert.ok(flips > 70 && flips < 130, `${flips} of 200 flipped`);
});

test('a loader resumed from a saved position hands out the identical next batches', async () => {
  const options: LoaderOptions = { batchSize: 4, seed: 21, flip: true };
  for (const stopAfter of [1, 2, 3, 5]) {
    const original = new DataLoader(numbered(), options);
    await take(original, stopAfter);
    // A checkpoint keeps the position as JSON.
    const saved = JSON.parse(JSON.stringify(original.position()));
    const expected = await take(original, 6);
    const resumed = await take(new DataLoader(numbered(), { ...options, position: saved }), 6);
    assert.deepEqual(resumed, expected, `resuming after ${stopAfter} batches`);
  }
});

test('iterating again after a break continues where the consumer stopped', async () => {
  const straight = await take(new DataLoader(numbered(), { batchSize: 3, seed: 8, flip: true }), 7);
  const loader = new DataLoader(numbered(), { batchSize: 3, seed: 8, flip: true });
  const pieces = [...(await take(loader, 2)), ...(await take(loader, 3)), ...(await take(loader, 2))];
  assert.deepEqual(pieces, straight);
  // Seven batches of four per epoch: the next is the last batch of the second epoch.
  const { epoch, batchInEpoch } = loader.position();
  assert.deepEqual([epoch, batchInEpoch], [1, 3]);
});

test('a position saved for other data or another batch size is refused', () => {
  const position = new DataLoader(numbered(), { batchSize: 4 }).position();
  assert.throws(
    () => new DataLoader(numbered(12), { batchSize: 4, position }),
    /the saved data position is for 10 images in batches of 4, but numbered has 12 images in batches of 4/,
  );
  assert.throws(() => new DataLoader(numbered(), { batchSize: 5, position }), /in batches of 4, but .* in batches of 5/);
  assert.throws(() => new DataLoader(numbered(), { batchSize: 4, position: { ...position, batchInEpoch: 3 } }), /batch 3\) is not one of the 3 batches/);
});

test('the next batch is assembled while the consumer still holds the current one', async () => {
  const inner = numbered();
  const requested: number[][] = [];
  const spy: Dataset = {
    name: inner.name,
    length: inner.length,
    imageShape: inner.imageShape,
    getBatch(indices) {
      requested.push([...indices]);
      return inner.getBatch(indices);
    },
  };
  const loader = new DataLoader(spy, { batchSize: 5, seed: 2 });
  for await (const batch of loader) {
    assert.equal(requested.length, 1);
    // Give the event loop a turn, as awaiting a GPU step would.
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(requested.length, 2, 'batch 1 was not prepared during batch 0');
    assert.deepEqual(requested[0], [...batch.indices]);
    break;
  }
});

test('a dataset failure reaches the consumer as an error', async () => {
  const failing: Dataset = {
    name: 'failing',
    length: 4,
    imageShape: [1, 1, 1],
    getBatch() {
      throw new Error('disk on fire');
    },
  };
  await assert.rejects(take(new DataLoader(failing, { batchSize: 2 }), 1), /disk on fire/);
});
