/**
 * The CPU backend's multi-tensor ops (the references of the GPU's one-launch kernels) give, bit for bit,
 * what the per-tensor tensor ops they replace in training give: the EMA as mulScalar + mulScalar + add, the
 * gradient norm's parts as sum(square(g)), the clipping scale as mulScalar, nan_to_num as EDM's.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { randomArray } from '../helpers/gradcheck.js';

const cpu = cpuBackend();
T.setBackend(cpu);

const SIZES = [1, 7, 300, 4099];
const tensors = (seed: number, scale = 1): T.Tensor[] => SIZES.map((n, i) => T.fromArray(randomArray(n, seed + i).map((v) => v * scale), [n]));
const spans = (ts: readonly T.Tensor[]) => ts.map((t) => ({ buf: t.buffer, length: t.size }));
const bits = (t: T.Tensor) => new Uint32Array(t.toFloat32Array().buffer);

test('emaMany is mulScalar(average, beta) + mulScalar(value, 1 - beta), bit for bit', () => {
  T.tidy(() => {
    const average = tensors(1);
    const value = tensors(11);
    const beta = 0.9993;
    const want = average.map((a, i) => T.add(T.mulScalar(a, beta), T.mulScalar(value[i], 1 - beta)));
    cpu.emaMany(average.map((a, i) => ({ average: a.buffer, value: value[i].buffer, length: a.size })), beta);
    average.forEach((a, i) => assert.deepEqual(bits(a), bits(want[i])));
  });
});

test('sumSquaresMany is sum(square(x)) per tensor, and scaleMany is mulScalar, bit for bit', () => {
  T.tidy(() => {
    const xs = tensors(21, 3);
    const sums = T.empty([xs.length]);
    cpu.sumSquaresMany(spans(xs), sums.buffer);
    assert.deepEqual([...sums.toFloat32Array()], xs.map((x) => T.sum(T.square(x)).item()));
    const want = xs.map((x) => T.mulScalar(x, 0.123));
    cpu.scaleMany(spans(xs), 0.123);
    xs.forEach((x, i) => assert.deepEqual(bits(x), bits(want[i])));
  });
});

test('nanToNumMany repairs as torch.nan_to_num and raises its flag only when it replaced something', () => {
  T.tidy(() => {
    const xs = tensors(31);
    const before = xs.map((x) => x.toFloat32Array());
    const flag = T.zeros([1]);
    cpu.nanToNumMany(spans(xs), 1e5, flag.buffer);
    assert.equal(flag.item(), 0, 'finite gradients raise no flag');
    xs.forEach((x, i) => assert.deepEqual(x.toFloat32Array(), before[i]));
    const bad = T.fromArray(Float32Array.from([1, NaN, Infinity, -Infinity, -2]), [5]);
    cpu.nanToNumMany(spans([...xs, bad]), 1e5, flag.buffer);
    assert.deepEqual([...bad.toFloat32Array()], [1, 0, 1e5, -1e5, -2]);
    assert.equal(flag.item(), 1);
  });
});

test('adamMany split over the worker threads gives the bits of one thread, and equals adam() per tensor', async () => {
  const { setCpuThreadCount, cpuPoolStats } = await import('../../src/backend/cpu/index.js');
  const { adam } = await import('../../src/backend/cpu/adam.js');
  const { setMinParallelWork } = await import('../../src/backend/cpu/pool.js');
  // ~160k elements over 60 tensors of uneven sizes, split from 2^16 on (the backend itself splits from 2^21).
  setMinParallelWork(1 << 16);
  const sizes = Array.from({ length: 60 }, (_, i) => (i % 7 === 0 ? 12_000 : 1 + ((i * 997) % 2500)));
  const p = { lr: 2e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.01, step: 3 };
  const run = (threads: number) =>
    T.tidy(() => {
      setCpuThreadCount(threads);
      const make = (seed: number, scale = 1) => sizes.map((n, i) => T.fromArray(randomArray(n, seed + i).map((v) => Math.abs(v) * scale), [n]));
      const [param, grad, m, v] = [make(100), make(200), make(300, 0.1), make(400, 0.01)];
      const before = cpuPoolStats().chunksRunByWorkers;
      cpu.adamMany(param.map((t, i) => ({ param: t.buffer, grad: grad[i].buffer, m: m[i].buffer, v: v[i].buffer, length: t.size })), p);
      const byWorkers = cpuPoolStats().chunksRunByWorkers - before;
      // The single-tensor reference on copies of the same inputs.
      const reference = sizes.map((n, i) => {
        const [pp, gg, mm, vv] = [0, 1, 2, 3].map((k) => Float32Array.from(randomArray(n, [100, 200, 300, 400][k] + i), (x) => Math.abs(x) * [1, 1, 0.1, 0.01][k]));
        adam(pp, gg, mm, vv, n, p);
        return pp;
      });
      return { params: param.map(bits), reference: reference.map((r) => new Uint32Array(r.buffer)), byWorkers };
    });
  const one = run(1);
  assert.deepEqual(one.params, one.reference);
  // Workers start on the first split call and may wake after the caller took every chunk: run until one took part.
  for (let attempt = 1; ; attempt++) {
    const two = run(2);
    assert.deepEqual(two.params, one.params);
    if (two.byWorkers > 0) break;
    assert.ok(attempt < 50, `no worker took part in ${attempt} runs`);
    await new Promise((r) => setTimeout(r, 20));
  }
  setCpuThreadCount(1);
  setMinParallelWork(null);
});
