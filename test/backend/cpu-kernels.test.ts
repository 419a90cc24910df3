/**
 * The CPU backend's heavy kernels (matmul, conv2d, groupNorm, attention, resample), checked through the
 * tensor ops against naive float64 references written here from the PyTorch definitions: forward values,
 * autograd gradients against central differences of the float64 reference, and gradCheck's float32 finite
 * differences through the op itself.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import type { MatmulParams, ResampleParams } from '../../src/backend/backend.js';
import { resample, resampleBackward } from '../../src/backend/cpu/resample.js';
import { assertClose, gradCheck, randomArray } from '../helpers/gradcheck.js';

T.setBackend(cpuBackend());

interface Input {
  data: Float32Array;
  shape: number[];
}

/** An op's definition evaluated in float64 on flat inputs. */
type Reference = (xs: Float64Array[]) => Float64Array;

const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);
const input = (shape: number[], seed: number): Input => ({ data: randomArray(numel(shape), seed), shape });

/** d/dx_k of sum(ref(xs) * r) by central differences in float64 (accurate to about 1e-9 for these smooth ops). */
function referenceGradient(ref: Reference, xs: Float64Array[], r: Float32Array, k: number): Float64Array {
  const h = 1e-6;
  const grad = new Float64Array(xs[k].length);
  const projected = (): number => ref(xs).reduce((s, v, i) => s + v * r[i], 0);
  for (let i = 0; i < grad.length; i++) {
    const orig = xs[k][i];
    xs[k][i] = orig + h;
    const plus = projected();
    xs[k][i] = orig - h;
    const minus = projected();
    xs[k][i] = orig;
    grad[i] = (plus - minus) / (2 * h);
  }
  return grad;
}

function checkAgainstReference(op: (xs: T.Tensor[]) => T.Tensor, ref: Reference, inputs: Input[]): void {
  T.tidy(() => {
    const xs = inputs.map((i) => {
      const t = T.fromArray(i.data, i.shape);
      t.requiresGrad = true;
      return t;
    });
    const x64 = inputs.map((i) => Float64Array.from(i.data));
    const y = op(xs);
    assertClose(y.toFloat32Array(), ref(x64), 1e-5, 'forward values');
    const r = randomArray(y.size, 1234);
    T.backward(y, T.fromArray(r, y.shape));
    xs.forEach((x, k) => {
      assert.ok(x.grad, `input ${k} received no gradient`);
      assertClose(x.grad.toFloat32Array(), referenceGradient(ref, x64, r, k), 1e-5, `gradient of input ${k}`);
    });
  });
  gradCheck(op, inputs);
}

// ---------------------------------------------------------------- float64 references

function matmulReference(a: ArrayLike<number>, b: ArrayLike<number>, c: ArrayLike<number>, p: MatmulParams): Float64Array {
  const { m, n, k } = p;
  const out = Float64Array.from(c);
  for (let bt = 0; bt < p.batch; bt++) {
    const opA = (i: number, q: number): number => a[bt * p.strideA + (p.transA ? q * m + i : i * k + q)];
    const opB = (q: number, j: number): number => b[bt * p.strideB + (p.transB ? j * k + q : q * n + j)];
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let q = 0; q < k; q++) s += opA(i, q) * opB(q, j);
        const at = bt * p.strideC + i * n + j;
        out[at] = p.alpha * s + (p.beta === 0 ? 0 : p.beta * c[at]);
      }
    }
  }
  return out;
}

/** torch.nn.functional.conv2d: y[n,o,oy,ox] = b[o] + sum x[n,i,oy*s-p+ky,ox*s-p+kx] * w[o,i,ky,kx]. */
function conv2dReference(xShape: number[], wShape: number[], pad: number | [number, number], stride: number): Reference {
  const [n, cIn, h, w] = xShape;
  const [cOut, , kh, kw] = wShape;
  const [padH, padW] = typeof pad === 'number' ? [pad, pad] : pad;
  const hOut = Math.floor((h + 2 * padH - kh) / stride) + 1;
  const wOut = Math.floor((w + 2 * padW - kw) / stride) + 1;
  return ([x, wt, bias]) => {
    const y = new Float64Array(n * cOut * hOut * wOut);
    for (let b = 0; b < n; b++)
      for (let o = 0; o < cOut; o++)
        for (let oy = 0; oy < hOut; oy++)
          for (let ox = 0; ox < wOut; ox++) {
            let s = bias ? bias[o] : 0;
            for (let i = 0; i < cIn; i++)
              for (let ky = 0; ky < kh; ky++)
                for (let kx = 0; kx < kw; kx++) {
                  const iy = oy * stride - padH + ky;
                  const ix = ox * stride - padW + kx;
                  if (iy >= 0 && iy < h && ix >= 0 && ix < w) s += x[((b * cIn + i) * h + iy) * w + ix] * wt[((o * cIn + i) * kh + ky) * kw + kx];
                }
            y[((b * cOut + o) * hOut + oy) * wOut + ox] = s;
          }
    return y;
  };
}

/** torch.nn.functional.group_norm with biased variance. */
function groupNormReference(shape: number[], groups: number, eps: number): Reference {
  const [n, c] = shape;
  const hw = numel(shape.slice(2));
  const size = (c / groups) * hw;
  return ([x, gamma, beta]) => {
    const y = new Float64Array(x.length);
    for (let b = 0; b < n; b++)
      for (let g = 0; g < groups; g++) {
        const start = (b * groups + g) * size;
        const group = x.subarray(start, start + size);
        const mean = group.reduce((s, v) => s + v, 0) / size;
        const variance = group.reduce((s, v) => s + (v - mean) ** 2, 0) / size;
        for (let e = 0; e < size; e++) {
          const ch = g * (c / groups) + Math.floor(e / hw);
          y[start + e] = ((group[e] - mean) / Math.sqrt(variance + eps)) * gamma[ch] + beta[ch];
        }
      }
    return y;
  };
}

/** EDM's UNetBlock attention: q, k, v = qkv.reshape(B*heads, C/heads, 3, L).unbind(2), softmax over keys. */
function attentionReference(shape: number[], heads: number): Reference {
  const [bsz, c3, h, w] = shape;
  const batch = bsz * heads;
  const c = c3 / 3 / heads;
  const l = h * w;
  return ([qkv]) => {
    const out = new Float64Array(batch * c * l);
    const at = (b: number, ch: number, which: number, pos: number): number => qkv[((b * c + ch) * 3 + which) * l + pos];
    for (let b = 0; b < batch; b++)
      for (let i = 0; i < l; i++) {
        const logits = Array.from({ length: l }, (_, j) => {
          let s = 0;
          for (let ch = 0; ch < c; ch++) s += at(b, ch, 0, i) * at(b, ch, 1, j);
          return s / Math.sqrt(c);
        });
        const max = Math.max(...logits);
        const e = logits.map((v) => Math.exp(v - max));
        const total = e.reduce((s, v) => s + v, 0);
        for (let ch = 0; ch < c; ch++) {
          let s = 0;
          for (let j = 0; j < l; j++) s += (e[j] / total) * at(b, ch, 2, j);
          out[(b * c + ch) * l + i] = s;
        }
      }
    return out;
  };
}

/**
 * EDM's Conv2d resampling: down = conv2d(x, f (x) f / sum(f)^2, stride 2, padding pad) per channel; up =
 * conv_transpose2d(x, f (x) f * 4 / sum(f)^2, stride 2, padding pad), written as the scatter that defines it.
 */
function resampleReference(shape: number[], mode: 'up' | 'down', taps: number[], pad: number): Reference {
  const [n, c, h, w] = shape;
  const k = taps.length;
  const tapSum = taps.reduce((s, t) => s + t, 0);
  const filter = (ty: number, tx: number): number => (taps[ty] * taps[tx] * (mode === 'up' ? 4 : 1)) / tapSum ** 2;
  const hOut = mode === 'up' ? (h - 1) * 2 - 2 * pad + k : Math.floor((h + 2 * pad - k) / 2) + 1;
  const wOut = mode === 'up' ? (w - 1) * 2 - 2 * pad + k : Math.floor((w + 2 * pad - k) / 2) + 1;
  return ([x]) => {
    const y = new Float64Array(n * c * hOut * wOut);
    for (let plane = 0; plane < n * c; plane++)
      for (let ty = 0; ty < k; ty++)
        for (let tx = 0; tx < k; tx++) {
          if (mode === 'down') {
            for (let oy = 0; oy < hOut; oy++)
              for (let ox = 0; ox < wOut; ox++) {
                const iy = 2 * oy - pad + ty;
                const ix = 2 * ox - pad + tx;
                if (iy >= 0 && iy < h && ix >= 0 && ix < w) y[(plane * hOut + oy) * wOut + ox] += filter(ty, tx) * x[(plane * h + iy) * w + ix];
              }
          } else {
            for (let iy = 0; iy < h; iy++)
              for (let ix = 0; ix < w; ix++) {
                const oy = 2 * iy - pad + ty;
                const ox = 2 * ix - pad + tx;
                if (oy >= 0 && oy < hOut && ox >= 0 && ox < wOut) y[(plane * hOut + oy) * wOut + ox] += filter(ty, tx) * x[(plane * h + iy) * w + ix];
              }
          }
        }
    return y;
  };
}

// ---------------------------------------------------------------- matmul

function runBackendMatmul(a: Float32Array, b: Float32Array, c: Float32Array, p: MatmulParams): Float32Array {
  const be = cpuBackend();
  const [ba, bb, bc] = [a, b, c].map((data) => {
    const buf = be.alloc('float32', data.length);
    be.upload(buf, data);
    return buf;
  });
  be.matmul(ba, bb, bc, p);
  return be.download(bc, 'float32', c.length) as Float32Array;
}

test('matmul matches float64 in every orientation, with alpha, beta and batch strides (0 shares a matrix)', () => {
  const [m, n, k, batch] = [67, 129, 33, 3];
  let seed = 10;
  for (const transA of [false, true])
    for (const transB of [false, true])
      for (const [sharedA, sharedB] of [[false, false], [true, false], [false, true]]) {
        const p: MatmulParams = {
          batch, m, n, k, transA, transB, alpha: 0.75, beta: -0.5,
          strideA: sharedA ? 0 : m * k, strideB: sharedB ? 0 : k * n, strideC: m * n,
        };
        const a = randomArray((sharedA ? 1 : batch) * m * k, seed++);
        const b = randomArray((sharedB ? 1 : batch) * k * n, seed++);
        const c = randomArray(batch * m * n, seed++);
        const what = `transA=${transA} transB=${transB} sharedA=${sharedA} sharedB=${sharedB}`;
        assertClose(runBackendMatmul(a, b, c, p), matmulReference(a, b, c, p), 1e-5, what);
      }
});

test('matmul with beta 0 ignores what the output held, even NaN', () => {
  const p: MatmulParams = { batch: 1, m: 5, n: 7, k: 3, transA: false, transB: false, alpha: 2, beta: 0, strideA: 0, strideB: 0, strideC: 0 };
  const a = randomArray(15, 1);
  const b = randomArray(21, 2);
  const c = new Float32Array(35).fill(NaN);
  const out = runBackendMatmul(a, b, c, p);
  assert.ok(out.every(Number.isFinite), 'NaN leaked from the old output');
  assertClose(out, matmulReference(a, b, new Float64Array(35), p), 1e-6);
});

test('batched T.matmul broadcasts a 2-D operand over the batch', () => {
  const a = input([4, 9, 6], 3);
  const b = input([6, 5], 4);
  const y = T.matmul(T.fromArray(a.data, a.shape), T.fromArray(b.data, b.shape)).toFloat32Array();
  const p: MatmulParams = { batch: 4, m: 9, n: 5, k: 6, transA: false, transB: false, alpha: 1, beta: 0, strideA: 54, strideB: 0, strideC: 45 };
  assertClose(y, matmulReference(a.data, b.data, new Float64Array(180), p), 1e-6);
});

// ---------------------------------------------------------------- conv2d

const convCases: { name: string; x: number[]; w: number[]; pad: number | [number, number]; stride: number; bias: boolean }[] = [
  { name: '3x3, padding 1', x: [2, 3, 5, 6], w: [4, 3, 3, 3], pad: 1, stride: 1, bias: true },
  { name: '3x3, stride 2, odd sizes', x: [2, 3, 7, 5], w: [5, 3, 3, 3], pad: 1, stride: 2, bias: true },
  { name: '1x1 (a plain product)', x: [2, 5, 4, 3], w: [6, 5, 1, 1], pad: 0, stride: 1, bias: true },
  { name: '1x1, stride 2', x: [1, 3, 5, 5], w: [2, 3, 1, 1], pad: 0, stride: 2, bias: false },
  { name: '2x3 kernel, no padding, no bias', x: [2, 2, 4, 5], w: [3, 2, 2, 3], pad: 0, stride: 1, bias: false },
  { name: '3x3, padding 2 (the fused-down conv)', x: [1, 2, 4, 4], w: [3, 2, 3, 3], pad: 2, stride: 1, bias: true },
  { name: '1x7, padding (0, 3) (Inception)', x: [2, 3, 5, 9], w: [4, 3, 1, 7], pad: [0, 3], stride: 1, bias: false },
  { name: '7x1, padding (3, 0) (Inception)', x: [2, 3, 8, 4], w: [4, 3, 7, 1], pad: [3, 0], stride: 1, bias: true },
  { name: '1x3, padding (0, 1), stride 2', x: [1, 3, 6, 7], w: [2, 3, 1, 3], pad: [0, 1], stride: 2, bias: true },
];

for (const cc of convCases) {
  test(`conv2d ${cc.name}: values and gradients of x, weight${cc.bias ? ', bias' : ''}`, () => {
    const inputs = [input(cc.x, 20), input(cc.w, 21)];
    if (cc.bias) inputs.push(input([cc.w[0]], 22));
    checkAgainstReference(
      ([x, w, b]) => T.conv2d(x, w, b ?? null, { pad: cc.pad, stride: cc.stride }),
      conv2dReference(cc.x, cc.w, cc.pad, cc.stride),
      inputs,
    );
  });
}

test('conv2d of many channels matches float64 (full tiles, long inner dimension)', () => {
  const [x, w, b] = [input([2, 24, 9, 8], 30), input([20, 24, 3, 3], 31), input([20], 32)];
  const y = T.conv2d(T.fromArray(x.data, x.shape), T.fromArray(w.data, w.shape), T.fromArray(b.data, b.shape), { pad: 1 });
  assertClose(y.toFloat32Array(), conv2dReference(x.shape, w.shape, 1, 1)([x.data, w.data, b.data].map((d) => Float64Array.from(d))), 1e-5);
});

// ---------------------------------------------------------------- groupNorm

const groupNormCases: [number[], number, number][] = [
  [[2, 6, 3, 4], 3, 1e-6],
  [[2, 4, 5, 3], 1, 1e-5],
  [[3, 4, 2, 3], 4, 0.3], // an eps comparable to the variance, so its placement matters
  [[2, 6, 7], 2, 1e-5],
];

for (const [shape, groups, eps] of groupNormCases) {
  test(`groupNorm of [${shape}] in ${groups} groups, eps ${eps}: values and gradients of x, gamma, beta`, () => {
    const c = shape[1];
    const x = { data: Float32Array.from(randomArray(numel(shape), 40), (v, i) => 3 * v + (i % 5) - 1), shape };
    checkAgainstReference(([a, g, b]) => T.groupNorm(a, g, b, groups, eps), groupNormReference(shape, groups, eps), [x, input([c], 41), input([c], 42)]);
  });
}

// Positions per channel a multiple of 4 run in WebAssembly SIMD (silu.ts), others in the TypeScript fallback.
for (const [shape, path] of [[[2, 6, 3, 4], 'SIMD'], [[2, 6, 3, 3], 'TypeScript']] as const) {
  test(`groupNorm fused with SiLU (${path}, [${shape}]): values and gradients of x, gamma, beta against silu(groupNorm) in float64`, () => {
    const norm = groupNormReference([...shape], 3, 1e-5);
    const silu64: Reference = (xs) => norm(xs).map((v) => v / (1 + Math.exp(-v)));
    const x = { data: Float32Array.from(randomArray(numel(shape), 43), (v, i) => 3 * v + (i % 5) - 1), shape: [...shape] };
    checkAgainstReference(([a, g, b]) => T.groupNorm(a, g, b, 3, 1e-5, true), silu64, [x, input([6], 44), input([6], 45)]);
  });
}

// ---------------------------------------------------------------- attention

for (const [shape, heads] of [[[2, 12, 3, 3], 1], [[2, 12, 2, 3], 2], [[1, 9, 1, 5], 1]] as [number[], number][]) {
  test(`attention of qkv [${shape}] with ${heads} head(s): values and gradient of qkv`, () => {
    checkAgainstReference(([qkv]) => T.attention(qkv, heads), attentionReference(shape, heads), [input(shape, 50)]);
  });
}

test('attention over 64 positions matches float64', () => {
  const qkv = { data: randomArray(2 * 48 * 64, 51, true), shape: [2, 48, 8, 8] };
  const y = T.attention(T.fromArray(qkv.data, qkv.shape), 1).toFloat32Array();
  assertClose(y, attentionReference(qkv.shape, 1)([Float64Array.from(qkv.data)]), 1e-5);
});

test('attention softmax is stable for logits in the thousands', () => {
  const qkv = { data: Float32Array.from(randomArray(2 * 24 * 16, 52, true), (v) => 30 * v), shape: [2, 24, 4, 4] };
  const y = T.attention(T.fromArray(qkv.data, qkv.shape), 1).toFloat32Array();
  assert.ok(y.every(Number.isFinite), 'softmax overflowed');
  assertClose(y, attentionReference(qkv.shape, 1)([Float64Array.from(qkv.data)]), 1e-5);
});

// ---------------------------------------------------------------- resample

const resampleCases: { mode: 'up' | 'down'; taps: number[]; pad: number; shape: number[] }[] = [
  { mode: 'up', taps: [1, 1], pad: 0, shape: [2, 2, 3, 4] },
  { mode: 'down', taps: [1, 1], pad: 0, shape: [2, 2, 4, 6] },
  { mode: 'down', taps: [1, 1], pad: 0, shape: [1, 2, 5, 7] },
  { mode: 'up', taps: [1, 3, 3, 1], pad: 1, shape: [2, 2, 3, 5] },
  { mode: 'down', taps: [1, 3, 3, 1], pad: 1, shape: [2, 2, 6, 4] },
  { mode: 'down', taps: [1, 3, 3, 1], pad: 1, shape: [1, 2, 5, 7] },
  { mode: 'down', taps: [1, 3, 3, 1], pad: 0, shape: [1, 2, 8, 7] },
  { mode: 'up', taps: [1, 2, 5], pad: 1, shape: [1, 1, 3, 4] },
];

for (const rc of resampleCases) {
  test(`resample ${rc.mode} with taps [${rc.taps}], padding ${rc.pad}, of [${rc.shape}]: values and gradient`, () => {
    checkAgainstReference(([x]) => T.resample(x, rc.mode, rc.taps, rc.pad), resampleReference(rc.shape, rc.mode, rc.taps, rc.pad), [input(rc.shape, 60)]);
  });

  test(`resample ${rc.mode} with taps [${rc.taps}], padding ${rc.pad}, of [${rc.shape}]: backward is the adjoint`, () => {
    T.tidy(() => {
      const x = T.fromArray(randomArray(numel(rc.shape), 61), rc.shape);
      x.requiresGrad = true;
      const ax = T.resample(x, rc.mode, rc.taps, rc.pad);
      const y = randomArray(ax.size, 62);
      T.backward(ax, T.fromArray(y, ax.shape));
      const dot = (u: ArrayLike<number>, v: ArrayLike<number>): number => Array.from(u).reduce((s, ui, i) => s + ui * v[i], 0);
      const lhs = dot(ax.toFloat32Array(), y);
      const rhs = dot(x.toFloat32Array(), x.grad!.toFloat32Array());
      assert.ok(Math.abs(lhs - rhs) <= 1e-6 * Math.max(1, Math.abs(lhs)), `<Ax, y> = ${lhs} but <x, A^T y> = ${rhs}`);
    });
  });
}

test('resample with taps [1, 1] is nearest-neighbour up and 2x2 average down', () => {
  const x = T.fromArray([1, 2, 3, 4, 5, 6], [1, 1, 2, 3]);
  assert.deepEqual([...T.resample(x, 'up', [1, 1], 0).toFloat32Array()], [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6]);
  const z = T.fromArray([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 2, 4]);
  assert.deepEqual([...T.resample(z, 'down', [1, 1], 0).toFloat32Array()], [3.5, 5.5]);
});

test('resample with two taps and no padding, whole planes by pairs, gives the bits of the general line filter', () => {
  // The general filter runs where the full-resolution side is one row and one column larger than exactly
  // double: no output reads them (decimate) or they get no input (expand), so the rest must agree bit for bit.
  const [n, c, h, w] = [2, 3, 4, 6]; // the low-resolution side
  const planes = n * c;
  const grow = (x: Float32Array, seed: number): Float32Array => {
    const extra = randomArray(planes * (2 * h + 1) * (2 * w + 1), seed);
    for (let pl = 0; pl < planes; pl++) for (let r = 0; r < 2 * h; r++) extra.set(x.subarray((pl * 2 * h + r) * 2 * w, (pl * 2 * h + r + 1) * 2 * w), (pl * (2 * h + 1) + r) * (2 * w + 1));
    return extra;
  };
  const crop = (x: Float32Array): Float32Array => {
    const out = new Float32Array(planes * 4 * h * w);
    for (let pl = 0; pl < planes; pl++) for (let r = 0; r < 2 * h; r++) out.set(x.subarray((pl * (2 * h + 1) + r) * (2 * w + 1), (pl * (2 * h + 1) + r) * (2 * w + 1) + 2 * w), (pl * 2 * h + r) * 2 * w);
    return out;
  };
  const bits = (x: Float32Array): number[] => Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
  const low = (seed: number): Float32Array => randomArray(planes * h * w, seed);
  const high = (seed: number): Float32Array => randomArray(planes * 4 * h * w, seed);
  for (const taps of [[1, 1], [0.3, -1.7]]) {
    for (const mode of ['up', 'down'] as const) {
      const exact: ResampleParams = mode === 'down' ? { n, c, h: 2 * h, w: 2 * w, hOut: h, wOut: w, mode, taps, pad: 0 } : { n, c, h, w, hOut: 2 * h, wOut: 2 * w, mode, taps, pad: 0 };
      const general: ResampleParams = mode === 'down' ? { ...exact, h: 2 * h + 1, w: 2 * w + 1 } : { ...exact, hOut: 2 * h + 1, wOut: 2 * w + 1 };
      const what = `${mode}, taps [${taps}]`;
      // decimating: forward of down, backward of up
      const [fine, decimated, fromGeneral] = [high(80), new Float32Array(planes * h * w), new Float32Array(planes * h * w)];
      if (mode === 'down') {
        resample(fine, decimated, exact);
        resample(grow(fine, 81), fromGeneral, general);
      } else {
        resampleBackward(fine, decimated, exact);
        resampleBackward(grow(fine, 81), fromGeneral, general);
      }
      assert.deepEqual(bits(fromGeneral), bits(decimated), `decimating (${what})`);
      // expanding: forward of up, backward of down
      const [coarse, expanded, toGeneral] = [low(82), new Float32Array(planes * 4 * h * w), new Float32Array(planes * (2 * h + 1) * (2 * w + 1))];
      if (mode === 'up') {
        resample(coarse, expanded, exact);
        resample(coarse, toGeneral, general);
      } else {
        resampleBackward(coarse, expanded, exact);
        resampleBackward(coarse, toGeneral, general);
      }
      assert.deepEqual(bits(crop(toGeneral)), bits(expanded), `expanding (${what})`);
    }
  }
});

test("EDM's fused down (3x3 conv with padding 2, then [1,3,3,1] down without padding): values and gradients", () => {
  const [xShape, wShape] = [[1, 2, 6, 6], [3, 2, 3, 3]];
  const conv = conv2dReference(xShape, wShape, 2, 1);
  const down = resampleReference([1, 3, 8, 8], 'down', [1, 3, 3, 1], 0);
  checkAgainstReference(
    ([x, w, b]) => T.resample(T.conv2d(x, w, b, { pad: 2 }), 'down', [1, 3, 3, 1], 0),
    (xs) => down([conv(xs)]),
    [input(xShape, 70), input(wShape, 71), input([3], 72)],
  );
});
