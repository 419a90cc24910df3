/** The data-parallel rank's generator: its share of the group's draw, or a stream of its own. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { RankGenerator } from '../../src/distributed/rank-generator.js';

T.setBackend(cpuBackend());

const START = { seed: 7, offset: 3 };

// Each rank's draws are multiples of 4 numbers (one Philox block), as an image's or a feature map's are.
test('slice mode: the ranks draw exactly the numbers of one process drawing for the whole batch, and host draws are the same everywhere', () => {
  const one = T.Generator.fromState(START);
  const whole = [one.normal([4, 3, 2, 2]).toFloat32Array(), one.uniform([4, 8]).toFloat32Array(), one.uniformHost(5)];
  for (const size of [2, 4]) {
    const ranks = Array.from({ length: size }, (_, r) => new RankGenerator(START, r, size, 'slice'));
    const draws = ranks.map((g) => [g.normal([4 / size, 3, 2, 2]).toFloat32Array(), g.uniform([4 / size, 8]).toFloat32Array(), g.uniformHost(5)]);
    for (let d = 0; d < 2; d++) assert.deepEqual(Float32Array.from(draws.flatMap((x) => [...x[d]])), whole[d]);
    for (const x of draws) assert.deepEqual(x[2], whole[2]);
    for (const g of ranks) assert.deepEqual(g.state(), one.state());
  }
});

test('per-rank mode: ranks draw different numbers, host draws agree once the offsets are aligned', () => {
  const a = new RankGenerator(START, 0, 2, 'per-rank');
  const b = new RankGenerator(START, 1, 2, 'per-rank');
  const plain = T.Generator.fromState(START);
  const [x, y, z] = [a.normal([8]).toFloat32Array(), b.normal([8]).toFloat32Array(), plain.normal([8]).toFloat32Array()];
  assert.notDeepEqual(x, y);
  assert.notDeepEqual(x, z);
  b.normal([12]); // rank 1's decoders saw more samples
  const furthest = Math.max(a.state().offset, b.state().offset);
  a.alignTo(furthest);
  b.alignTo(furthest);
  assert.deepEqual(a.uniformHost(6), b.uniformHost(6));
  assert.throws(() => a.alignTo(0), /cannot move a generator back/);
});
