/**
 * Gradient sums in buckets overlapped with backward, on the thread double (which reads a bucket when its
 * sum starts and writes the sums only at wait(), as NCCL on its own stream may): buckets start inside the
 * backward pass, in the same order on every rank whatever order the gradients became final in, the sums
 * are exact, and a bucket started before its gradients were final is caught.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runThreadRanks } from '../helpers/thread-ranks.js';
import type { BucketJob, BucketOutcome } from './bucket-worker.js';
import { SIZES, coefficients, used } from './bucket-case.js';

function run(size: number, reportIn: BucketJob['reportIn'], bucketBytes: number): Promise<BucketOutcome[]> {
  return runThreadRanks<BucketJob, BucketOutcome>(new URL('./bucket-worker.js', import.meta.url), size, (group, rank) => ({ group, rank, reportIn, bucketBytes }));
}

/** The exact sum over ranks and both micro-batches of every parameter's gradient. */
function expected(size: number): number[][] {
  return SIZES.map((n, i) => {
    const sum = new Array<number>(n).fill(0);
    for (let r = 0; r < size; r++) if (used(r).includes(i)) for (const m of [0, 1]) coefficients(r, m, i).forEach((c, j) => (sum[j] += c));
    return sum;
  });
}

test('buckets start during the last backward pass, in one order on every rank, and give the exact sums', async () => {
  // 40 bytes, from the last parameter (6, 4, 7, 10, 3 elements): buckets {4, 3}, {2, 1}, {0}, each closed
  // once it holds 40 bytes or more.
  const outcomes = await run(2, 'last', 40);
  for (const o of outcomes) {
    if (!o.ok) assert.fail(o.message);
    assert.equal(o.buckets, 3);
    assert.deepEqual(o.grads, expected(2));
    assert.ok(o.ownBeforeWait, 'a sum was visible before wait()');
  }
  const [r0, r1] = outcomes as Extract<BucketOutcome, { ok: true }>[];
  // Rank 1 uses the parameters in reverse, so its gradients become final in the opposite order to rank 0's:
  // buckets started as they fill, not in order, would sum different buckets together.
  // Every bucket starts before backward ends, rank 1's too: the parameter its pass does not reach has its
  // final gradient (zeros) when the pass begins.
  assert.equal(r0.startedInBackward, 3);
  assert.equal(r1.startedInBackward, 3);
  assert.deepEqual(r0.reached, [true, true, true, true, true]);
  assert.deepEqual(r1.reached, [true, true, false, true, true]);
});

test('one bucket for everything (the default 25 MiB on a small model) gives the same sums', async () => {
  const outcomes = await run(3, 'last', 25 * 2 ** 20);
  for (const o of outcomes) {
    if (!o.ok) assert.fail(o.message);
    assert.equal(o.buckets, 1);
    assert.deepEqual(o.grads, expected(3));
  }
});

test('a bucket started before its last gradient is final is caught', async () => {
  // Reported in the first of two backward passes: the second pass's additions replace the gradients that
  // the started sums hold, as a premature start would on a GPU (the sum lost, or written to freed memory).
  const outcomes = await run(2, 'first', 40);
  for (const o of outcomes) assert.equal(o.ok, false);
  const messages = outcomes.map((o) => (o.ok ? '' : o.message)).join('\n');
  assert.match(messages, /a tensor was freed before its sum was waited for/);
});
