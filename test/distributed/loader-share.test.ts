/** A data-parallel rank's loader: its share of the group's batches, and the group's position. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapesDataset } from '../../src/data/shapes.js';
import { DataLoader, type LoaderBatch } from '../../src/data/loader.js';

async function firstBatches(loader: DataLoader, count: number): Promise<LoaderBatch[]> {
  const out: LoaderBatch[] = [];
  for await (const b of loader) {
    out.push(b);
    if (out.length === count) break;
  }
  return out;
}

test("the ranks' shares of each batch (their part of every micro-batch) make up the group's batch, and the position is the group's", async () => {
  const dataset = new ShapesDataset({ length: 40, size: 8 });
  const options = { batchSize: 8, seed: 3, flip: true, dropLast: true };
  const whole = new DataLoader(dataset, options);
  const batches = await firstBatches(whole, 7); // past the end of an epoch (5 batches)
  // Two ranks, micro-batches of 4: rank 0 takes positions 0-1 and 4-5, rank 1 takes 2-3 and 6-7.
  const shares = [Int32Array.of(0, 1, 4, 5), Int32Array.of(2, 3, 6, 7)];
  const ranks = shares.map((share) => new DataLoader(dataset, { ...options, share }));
  const parts = await Promise.all(ranks.map((l) => firstBatches(l, 7)));
  const bytes = 3 * 8 * 8;
  batches.forEach((b, k) => {
    shares.forEach((share, r) => {
      const part = parts[r][k];
      assert.deepEqual(part.shape, [4, 3, 8, 8]);
      assert.deepEqual(part.indices, Int32Array.from(share, (p) => b.indices[p]));
      assert.deepEqual(part.flipped, Uint8Array.from(share, (p) => b.flipped[p]));
      assert.deepEqual(part.labels, Int32Array.from(share, (p) => b.labels![p]));
      share.forEach((p, i) => assert.deepEqual(part.images.subarray(i * bytes, (i + 1) * bytes), b.images.subarray(p * bytes, (p + 1) * bytes)));
    });
  });
  for (const l of ranks) assert.deepEqual(l.position(), whole.position());
  assert.throws(() => new DataLoader(dataset, { ...options, share: Int32Array.of(8) }), /positions outside a batch of 8/);
});
