import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bestContiguousPartition, partitionBySimilarity } from '../../src/stages/index.js';
import { Generator } from '../../src/tensor/index.js';

/** Every way to cut n items into k non-empty contiguous segments, as the start indices of segments 1..k-1. */
function allCuts(n: number, k: number, from = 1): number[][] {
  if (k === 1) return [[]];
  const out: number[][] = [];
  for (let s = from; s <= n - (k - 1); s++) for (const rest of allCuts(n, k - 1, s + 1)) out.push([s, ...rest]);
  return out;
}

test('dynamic programming finds the best cut that exhaustive search finds', () => {
  const n = 9;
  const u = new Generator(11).uniformHost(n * n);
  const score = (i: number, j: number): number => u[i * n + j - 1] - 0.1 * (j - i);
  for (let k = 1; k <= 5; k++) {
    let best = -Infinity;
    for (const cuts of allCuts(n, k)) {
      const bounds = [0, ...cuts, n];
      best = Math.max(best, bounds.slice(1).reduce((acc, end, s) => acc + score(bounds[s], end), 0));
    }
    const got = bestContiguousPartition(n, k, score);
    assert.equal(got.starts.length, k - 1);
    assert.ok(Math.abs(got.score - best) < 1e-12, `k = ${k}: ${got.score} vs ${best}`);
    const bounds = [0, ...got.starts, n];
    const rescored = bounds.slice(1).reduce((acc, end, s) => acc + score(bounds[s], end), 0);
    assert.ok(Math.abs(rescored - got.score) < 1e-12, 'the returned cuts score what is reported');
  }
});

test('a block-diagonal similarity is cut at its blocks under either weighting', () => {
  const blocks = [4, 7, 3];
  const owner = blocks.flatMap((len, b) => new Array<number>(len).fill(b));
  const n = owner.length;
  const similarity = Array.from({ length: n }, (_, a) => Array.from({ length: n }, (_, b) => (owner[a] === owner[b] ? 0.9 : 0.2 + 0.05 * Math.abs(owner[a] - owner[b]))));
  for (let a = 0; a < n; a++) similarity[a][a] = 1;
  const blockMean = (len: number): number => (len + (len * len - len) * 0.9) / (len * len);
  const perPoint = partitionBySimilarity(similarity, 3, 'per-point');
  assert.deepEqual(perPoint.starts, [4, 11]);
  assert.ok(Math.abs(perPoint.meanWithinStage - blocks.reduce((acc, len) => acc + len * blockMean(len), 0) / n) < 1e-12);
  const perStage = partitionBySimilarity(similarity, 3, 'per-stage');
  assert.deepEqual(perStage.starts, [4, 11]);
  assert.ok(Math.abs(perStage.meanWithinStage - blocks.reduce((acc, len) => acc + blockMean(len), 0) / 3) < 1e-12);
});

test('per-stage weighting isolates single points where similarity is low; per-point finds the block', () => {
  // Points 0-5 alike (0.9); points 6-9 unlike each other (0.1) and the block (0.05).
  const n = 10;
  const similarity = Array.from({ length: n }, (_, a) =>
    Array.from({ length: n }, (_, b) => (a === b ? 1 : a < 6 && b < 6 ? 0.9 : a >= 6 && b >= 6 ? 0.1 : 0.05)),
  );
  assert.equal(partitionBySimilarity(similarity, 3, 'per-point').starts[0], 6);
  // Two one-point stages score 1 each, which outweighs the block's losing two unlike points.
  assert.deepEqual(partitionBySimilarity(similarity, 3, 'per-stage').starts, [8, 9]);
});

test('more stages than grid points is an error', () => {
  assert.throws(() => bestContiguousPartition(3, 4, () => 0), /cannot cut 3 grid points into 4 non-empty stages/);
  assert.throws(() => bestContiguousPartition(3, 0, () => 0), /positive integer/);
  assert.throws(() => partitionBySimilarity([[1, 0], [0]], 1), /square/);
  assert.throws(() => partitionBySimilarity([[1]], 1, 'median' as never), /stage weighting must be one of per-point, per-stage/);
});
