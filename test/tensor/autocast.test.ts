/**
 * Autocast as PyTorch's: on a backend that does matrix work in bfloat16, matmul and linear cast their float32
 * operands to bfloat16 inside the op and return bfloat16, while the float32 leaves get float32 gradients.
 * The CPU backend computes in fp32 only, so the test runs on a CPU backend that also accepts bfloat16
 * operands (it widens them to fp32, multiplies, and rounds a bfloat16 result): what it checks is the
 * autocast logic of the ops, independent of any GPU. (The GPU's bf16 kernels: cuda-conformance.test.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import type { Backend, DeviceBuffer, MatmulParams } from '../../src/backend/backend.js';
import type { DType } from '../../src/base/dtype.js';
import * as T from '../../src/tensor/index.js';
import { randomArray } from '../helpers/gradcheck.js';

T.setBackend(cpuBackend());

/** bfloat16 rounding (to nearest even) of a float32 value. */
function bf16(v: number): number {
  const u = new Uint32Array(Float32Array.of(v).buffer);
  u[0] = (u[0] + 0x7fff + ((u[0] >> 16) & 1)) & 0xffff0000;
  return new Float32Array(u.buffer)[0];
}

/** A CPU backend with bfloat16 matmul operands; records the dtypes of every matmul's A, B and C. */
function bf16MatmulBackend(): { backend: Backend; calls: DType[][] } {
  const cpu = cpuBackend();
  const dtypes = new WeakMap<DeviceBuffer, { dtype: DType; length: number }>();
  const calls: DType[][] = [];
  const widened = (buf: DeviceBuffer): DeviceBuffer => {
    const info = dtypes.get(buf)!;
    if (info.dtype === 'float32') return buf;
    const out = cpu.alloc('float32', info.length);
    cpu.cast(buf, info.dtype, out, 'float32', info.length);
    return out;
  };
  const backend: Backend = {
    ...cpu,
    autocastDtypes: ['bfloat16'],
    alloc: (dtype, length) => {
      const buf = cpu.alloc(dtype, length);
      dtypes.set(buf, { dtype, length });
      return buf;
    },
    matmul: (a, b, c, p: MatmulParams) => {
      const out = dtypes.get(c)!;
      calls.push([dtypes.get(a)!.dtype, dtypes.get(b)!.dtype, out.dtype]);
      const c32 = widened(c);
      cpu.matmul(widened(a), widened(b), c32, p);
      if (c32 !== c) cpu.cast(c32, 'float32', c, out.dtype, out.length);
    },
  };
  return { backend, calls };
}

test('autocast: matmul runs on bfloat16 operands and returns bfloat16; float32 leaves get float32 gradients', () => {
  const { backend, calls } = bf16MatmulBackend();
  const [n, k, m] = [3, 20, 4];
  const xs = randomArray(n * k, 1, true);
  const ws = randomArray(m * k, 2, true);
  const leaf = (values: Float32Array, shape: number[]) => {
    const t = T.fromArray(values, shape, 'float32', backend);
    t.requiresGrad = true;
    return t;
  };
  const x = leaf(xs, [n, k]);
  const w = leaf(ws, [m, k]);
  const y = T.withAutocast('bfloat16', () => T.linear(x, w, null));
  assert.equal(y.dtype, 'bfloat16');
  assert.deepEqual(calls, [['bfloat16', 'bfloat16', 'bfloat16']]);
  // y = bf16(sum_k bf16(x) bf16(w)); the fp32 product differs from it
  const got = T.cast(y, 'float32').toFloat32Array();
  let fromFp32 = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < m; j++) {
      let rounded = 0;
      let exact = 0;
      for (let q = 0; q < k; q++) {
        rounded += bf16(xs[i * k + q]) * bf16(ws[j * k + q]);
        exact += xs[i * k + q] * ws[j * k + q];
      }
      const v = got[i * m + j];
      assert.ok(Math.abs(v - rounded) <= 2 ** -8 * Math.abs(rounded) + 1e-6, `y[${i},${j}] = ${v}, bf16 operands give ${rounded}`);
      fromFp32 = Math.max(fromFp32, Math.abs(bf16(exact) - v));
    }
  }
  assert.ok(fromFp32 > 0, 'the result is that of the fp32 operands: nothing was cast');
  // gradients of sum(y): dx[i, q] = sum_j bf16(w[j, q]), dw[j, q] = sum_i bf16(x[i, q]), each in its leaf's float32
  calls.length = 0;
  T.backward(T.sum(T.cast(y, 'float32')));
  assert.deepEqual([x.grad!.dtype, w.grad!.dtype], ['float32', 'float32']);
  assert.ok(calls.length === 2 && calls.every((c) => c[0] === 'bfloat16' || c[1] === 'bfloat16'), `backward matmuls: ${JSON.stringify(calls)}`);
  const dx = x.grad!.toFloat32Array();
  const dw = w.grad!.toFloat32Array();
  for (let q = 0; q < k; q++) {
    const wantDx = Array.from({ length: m }, (_, j) => bf16(ws[j * k + q])).reduce((a, b) => a + b);
    const wantDw = Array.from({ length: n }, (_, i) => bf16(xs[i * k + q])).reduce((a, b) => a + b);
    for (let i = 0; i < n; i++) assert.ok(Math.abs(dx[i * k + q] - wantDx) <= 2 ** -7 * Math.abs(wantDx) + 1e-6, `dx[${i},${q}] = ${dx[i * k + q]}, want ${wantDx}`);
    for (let j = 0; j < m; j++) assert.ok(Math.abs(dw[j * k + q] - wantDw) <= 2 ** -7 * Math.abs(wantDw) + 1e-6, `dw[${j},${q}] = ${dw[j * k + q]}, want ${wantDw}`);
  }
  // without autocast the same backend multiplies float32
  calls.length = 0;
  T.linear(T.fromArray(xs, [n, k], 'float32', backend), T.fromArray(ws, [m, k], 'float32', backend), null);
  assert.deepEqual(calls, [['float32', 'float32', 'float32']]);
  assert.equal(T.autocastDtype(cpuBackend()), null, 'the fp32-only CPU backend ignores autocast');
});

test('withAutocast restores the previous setting, also when fn throws', () => {
  const gpuLike = { ...cpuBackend(), autocastDtypes: ['bfloat16'] } as const;
  assert.equal(T.autocastDtype(gpuLike), null);
  T.withAutocast('bfloat16', () => {
    assert.equal(T.autocastDtype(gpuLike), 'bfloat16');
    assert.throws(() => T.withAutocast(null, () => {
      assert.equal(T.autocastDtype(gpuLike), null);
      throw new Error('inner');
    }), /inner/);
    assert.equal(T.autocastDtype(gpuLike), 'bfloat16');
  });
  assert.equal(T.autocastDtype(gpuLike), null);
});
