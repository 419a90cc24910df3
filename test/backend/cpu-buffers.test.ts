/**
 * CPU backend memory: float32 buffers are shared memory (so the worker threads can use them) and, once
 * freed, are handed out again for the same length, as they are (no contents are promised); other dtypes
 * are ordinary arrays.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { allocCpu, freeCpu } from '../../src/backend/cpu/buffer.js';

// A length no other test in this process allocates, so the cache holds nothing of it to begin with.
const LENGTH = 12_345;

test('float32 buffers are shared memory, and reused once freed', () => {
  const first = allocCpu('float32', LENGTH);
  assert.ok(first.data.buffer instanceof SharedArrayBuffer);
  freeCpu(first);
  const second = allocCpu('float32', LENGTH);
  assert.equal(second.data, first.data, 'the freed array was not reused');
  const third = allocCpu('float32', LENGTH);
  assert.notEqual(third.data, second.data, 'one array was handed out twice');
});

test('freeing a buffer twice throws (its array may already belong to another buffer)', () => {
  const b = allocCpu('float32', LENGTH + 1);
  freeCpu(b);
  assert.throws(() => freeCpu(b), /freed twice/);
});

test('other dtypes are ordinary arrays', () => {
  for (const [dtype, type] of [['int32', Int32Array], ['uint8', Uint8Array], ['bfloat16', Uint16Array], ['float16', Uint16Array]] as const) {
    const b = allocCpu(dtype, 10);
    assert.ok(b.data instanceof type && b.data.buffer instanceof ArrayBuffer, dtype);
    freeCpu(b);
  }
});
