import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { philox4x32 } from '../../src/base/philox.js';
import { assertClose, gradCheck, randomArray } from '../helpers/gradcheck.js';

T.setBackend(cpuBackend());

test('Philox 4x32-10 matches the Random123 known-answer vectors', () => {
  const out = new Uint32Array(4);
  philox4x32(0, 0, 0, 0, 0, 0, out);
  assert.deepEqual([...out], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]);
  philox4x32(0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff, out);
  assert.deepEqual([...out], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]);
  philox4x32(0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344, 0xa4093822, 0x299f31d0, out);
  assert.deepEqual([...out], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]);
});

test('normal draws have unit moments and resume exactly from a saved state', () => {
  const g = new T.Generator(7);
  const a = g.normal([100000]).toFloat32Array();
  let m = 0;
  let v = 0;
  for (const x of a) m += x;
  m /= a.length;
  for (const x of a) v += (x - m) ** 2;
  v /= a.length;
  assert.ok(Math.abs(m) < 0.015, `mean ${m}`);
  assert.ok(Math.abs(v - 1) < 0.02, `variance ${v}`);
  const saved = g.state();
  const next = g.uniform([10]).toFloat32Array();
  const resumed = T.Generator.fromState(saved).uniform([10]).toFloat32Array();
  assert.deepEqual([...resumed], [...next]);
  for (const u of next) assert.ok(u > 0 && u < 1);
});

test('broadcasting binary ops match a float64 reference', () => {
  const a = randomArray(2 * 3 * 4, 1);
  const b = randomArray(3 * 1, 2);
  const y = T.mul(T.fromArray(a, [2, 3, 4]), T.fromArray(b, [3, 1])).toFloat32Array();
  const ref = new Float64Array(24);
  for (let i = 0; i < 2; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 4; k++) ref[i * 12 + j * 4 + k] = a[i * 12 + j * 4 + k] * b[j];
  assertClose(y, ref, 1e-7);
  assert.throws(() => T.add(T.zeros([2, 3]), T.zeros([4])), /do not broadcast/);
});

test('elementwise and reduction gradients match finite differences', () => {
  const x = { data: randomArray(24, 3), shape: [2, 3, 4] };
  const y = { data: randomArray(4, 4), shape: [4] };
  gradCheck(([a, b]) => T.div(T.mul(T.silu(a), T.add(b, T.scalar(2))), T.addScalar(T.square(b), 1)), [x, y]);
  gradCheck(([a]) => T.sum(T.exp(a), [0, 2], true), [x]);
  gradCheck(([a]) => T.mean(T.sin(a), [1]), [x]);
  gradCheck(([a]) => T.permute(T.tanh(a), [2, 0, 1]), [x]);
  gradCheck(([a]) => T.concat([a, T.sigmoid(a)], 1), [x]);
  gradCheck(([a]) => T.narrow(a, 2, 1, 2), [x]);
  gradCheck(([a]) => T.gather(a, Int32Array.from([1, 0, 1])), [x]);
});

test('matmul and linear gradients match finite differences in every orientation', () => {
  const a = { data: randomArray(12, 5), shape: [3, 4] };
  const b = { data: randomArray(20, 6), shape: [4, 5] };
  gradCheck(([p, q]) => T.matmul(p, q), [a, b]);
  gradCheck(([p, q]) => T.matmul(p, q, true, false), [{ data: a.data, shape: [4, 3] }, { data: randomArray(20, 7), shape: [4, 5] }]);
  gradCheck(([p, q]) => T.matmul(p, q, false, true), [a, { data: b.data, shape: [5, 4] }]);
  gradCheck(([p, q]) => T.matmul(p, q), [{ data: randomArray(24, 8), shape: [2, 3, 4] }, b]);
  gradCheck(([x, w, bias]) => T.linear(x, w, bias), [a, { data: b.data, shape: [5, 4] }, { data: randomArray(5, 9), shape: [5] }]);
});

test('tidy frees what it does not return; use after dispose is a clear error', () => {
  let inner: T.Tensor | null = null;
  const kept = T.tidy(() => {
    inner = T.ones([3]);
    return T.addScalar(inner, 1);
  });
  assert.equal(inner!.isDisposed, true);
  assert.equal(kept.isDisposed, false);
  assert.throws(() => inner!.toArray(), /used after dispose/);
});

test('kept tensors outlive every scope; returned ones move out one scope at a time', () => {
  let kept: T.Tensor | null = null;
  let keptEarly: T.Tensor | null = null;
  let dropped: T.Tensor | null = null;
  let movedOnce: T.Tensor | null = null;
  const outer = T.tidy(() => {
    const fromInner = T.tidy(() => {
      keptEarly = T.ones([2]); // kept after later tensors were made: not the newest of its scope
      dropped = T.ones([2]);
      kept = T.keep(T.ones([2]));
      T.keep(keptEarly);
      movedOnce = T.ones([2]);
      return { list: [movedOnce, movedOnce], kept };
    });
    assert.equal(fromInner.list[0].isDisposed, false);
    return T.addScalar(fromInner.list[1], 1);
  });
  assert.deepEqual([dropped!.isDisposed, movedOnce!.isDisposed], [true, true]);
  assert.deepEqual([kept!.isDisposed, keptEarly!.isDisposed, outer.isDisposed], [false, false, false]);
  assert.deepEqual([...outer.toFloat32Array()], [2, 2]);
  for (const t of [kept!, keptEarly!, outer]) t.dispose();
});

test('gradients accumulate on leaves across backward calls and noGrad records nothing', () => {
  const w = T.fromArray([1, 2, 3], [3]);
  w.requiresGrad = true;
  for (let i = 0; i < 2; i++) T.backward(T.sum(T.mulScalar(w, 2)));
  assert.deepEqual([...w.grad!.toFloat32Array()], [4, 4, 4]);
  const y = T.noGrad(() => T.mulScalar(w, 3));
  assert.equal(y.requiresGrad, false);
});

test('an intermediate disposed by an inner tidy still back-propagates, on what the tape saved', () => {
  const values = [-0.7, 0.1, 0.9];
  const w = T.fromArray(values, [3]);
  w.requiresGrad = true;
  T.tidy(() => {
    let u: T.Tensor | null = null;
    const h = T.tidy(() => {
      u = T.exp(w);
      return T.silu(u);
    });
    assert.equal(u!.isDisposed, true);
    T.backward(T.sum(T.mul(h, h)));
  });
  // d/dw sum(silu(e^w)^2) = 2 silu(u) silu'(u) u with u = e^w, silu'(u) = s(u) (1 + u (1 - s(u))).
  const expected = values.map((v) => {
    const u = Math.exp(v);
    const s = 1 / (1 + Math.exp(-u));
    return 2 * u * s * s * (1 + u * (1 - s)) * u;
  });
  assertClose(w.grad!.toFloat32Array(), expected, 1e-6);
});

test('backward runs once per forward: a second pass through a graph fails clearly', () => {
  const w = T.fromArray([1, 2], [2]);
  w.requiresGrad = true;
  T.tidy(() => {
    const y = T.exp(w);
    const loss = T.sum(y);
    T.backward(loss);
    assert.throws(() => T.backward(loss), /backward through sum a second time.*run the forward pass again/);
    assert.throws(() => T.backward(T.sum(T.mul(y, y))), /backward through exp a second time/);
  });
  assert.deepEqual([...w.grad!.toFloat32Array()], [Math.fround(Math.E), Math.fround(Math.exp(2))]);
});

test('saved tensors live as long as their graph: freed with the scope, the output or the backward pass', () => {
  const cpu = cpuBackend();
  let live = 0;
  T.setBackend({
    ...cpu,
    alloc: (dtype, n) => {
      live++;
      return cpu.alloc(dtype, n);
    },
    free: (buf) => {
      live--;
      cpu.free(buf);
    },
  });
  try {
    const w = T.fromArray([0.5, -1, 2], [3]);
    w.requiresGrad = true;
    const forward = (): T.Tensor => T.sum(T.mul(T.silu(T.exp(T.square(w))), w));
    T.tidy(() => {
      forward();
    });
    assert.equal(live, 1, 'buffers alive after a tidy around a forward pass that was never back-propagated');
    // A loss returned from its scope keeps what its graph saved (and nothing else) until it is disposed...
    const kept = T.tidy(forward);
    assert.equal(live, 1 + 4, 'the weight, the loss, and the outputs of square, exp and silu (saved by exp, silu and mul)');
    kept.dispose();
    assert.equal(live, 1, 'buffers alive after disposing a loss that was never back-propagated');
    // ... or back-propagated, outside the scope that made it.
    const loss = T.tidy(forward);
    T.backward(loss);
    loss.dispose();
    assert.equal(live, 2, 'the weight and its gradient');
    // A leaf disposed before backward gets no gradient (nothing would free it).
    const scaled = T.tidy(() => {
      const s = T.fromArray([2], [1]);
      s.requiresGrad = true;
      return T.sum(T.mul(w, s));
    });
    T.backward(scaled);
    scaled.dispose();
    assert.equal(live, 2, 'the weight and its gradient, after back-propagating to a disposed leaf');
    w.dispose();
  } finally {
    T.setBackend(cpu);
  }
});

test('gradients of batch-axis slices are written into their rows: dense where the slices overlap or share the tensor with another use, zero in rows no slice covers', () => {
  const cpu = cpuBackend();
  let fills = 0; // fills of x's size (15 values)
  const fill: typeof cpu.fill = (out, length, value) => {
    if (length === 15) fills++;
    cpu.fill(out, length, value);
  };
  T.setBackend(new Proxy(cpu, { get: (b, k) => (k === 'fill' ? fill : Reflect.get(b, k)) }));
  try {
    const xs = randomArray(5 * 3, 1);
    const w = randomArray(5 * 3, 2);
    // d/dx of sum over slices [from, to) of (slice * w[rows]) (+ sum(x * w) when `direct`), in float64
    const expected = (slices: [number, number][], direct: boolean): number[] =>
      Array.from({ length: 15 }, (_, i) => {
        const r = Math.floor(i / 3);
        return (slices.filter(([a, b]) => a <= r && r < b).length + (direct ? 1 : 0)) * w[i];
      });
    const gradOf = (slices: [number, number][], direct: boolean): { grad: number[]; fills: number } => {
      const x = T.fromArray(xs, [5, 3]);
      x.requiresGrad = true;
      const before = fills;
      T.tidy(() => {
        const terms = slices.map(([a, b]) => T.sum(T.mul(T.narrow(x, 0, a, b - a), T.fromArray(w.slice(a * 3, b * 3), [b - a, 3]))));
        if (direct) terms.push(T.sum(T.mul(x, T.fromArray(w, [5, 3]))));
        T.backward(terms.reduce((s, t) => T.add(s, t)));
      });
      const grad = Array.from(x.grad!.toFloat32Array());
      x.grad!.dispose();
      x.dispose();
      return { grad, fills: fills - before };
    };
    const cases: [[number, number][], boolean][] = [
      [[[0, 1], [1, 4], [4, 5]], false], // disjoint, covering every row
      [[[0, 2], [3, 5]], false], // row 2 uncovered
      [[[0, 3], [2, 5]], false], // overlapping rows 2
      [[[0, 2], [2, 5]], true], // x also used whole
    ];
    const filled: number[] = [];
    for (const [slices, direct] of cases) {
      const { grad, fills: n } = gradOf(slices, direct);
      assertClose(Float32Array.from(grad), Float32Array.from(expected(slices, direct)), 1e-6, JSON.stringify(slices));
      filled.push(n);
    }
    // slices covering every row fill nothing at x's size (a zero-filled gradient per slice would be three);
    // an uncovered row needs one
    assert.deepEqual(filled.slice(0, 2), [0, 1]);
  } finally {
    T.setBackend(cpu);
  }
});
