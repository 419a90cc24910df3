/**
 * Finite-difference checks shared by the op tests: compares an op's autograd gradients with central
 * differences of a random projection L = sum(f(x) * r), the sums taken in float64.
 */
import assert from 'node:assert/strict';
import { Generator, Tensor, backward, fromArray, noGrad, tidy } from '../../src/tensor/index.js';
import { relativeL2 } from '../../src/util/relative-l2.js';

export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length, 'length mismatch');
  return relativeL2(actual, expected);
}

export function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what = 'values'): void {
  const e = relError(actual, expected);
  assert.ok(e < tol, `${what}: relative L2 error ${e.toExponential(3)} exceeds ${tol}`);
}

/** Deterministic test data in [-1, 1) (or normal) from a seed. */
export function randomArray(n: number, seed: number, normal = false): Float32Array {
  const g = new Generator(seed);
  return Float32Array.from(normal ? g.normalHost(n) : Array.from(g.uniformHost(n), (u) => 2 * u - 1));
}

export interface GradCheckOptions {
  eps?: number;
  tol?: number;
  seed?: number;
}

/**
 * Checks d/dx_i of sum(f(x) * r) for every input against central differences.
 * `inputs` are host arrays with shapes; f receives tensors that require grad.
 */
export function gradCheck(f: (xs: Tensor[]) => Tensor, inputs: { data: Float32Array; shape: number[] }[], options: GradCheckOptions = {}): void {
  const eps = options.eps ?? 1e-2;
  const tol = options.tol ?? 1e-2;
  tidy(() => {
    const xs = inputs.map((i) => {
      const t = fromArray(i.data, i.shape);
      t.requiresGrad = true;
      return t;
    });
    const y = f(xs);
    const r = randomArray(y.size, options.seed ?? 99);
    backward(y, fromArray(r, y.shape));
    const loss = (data: Float32Array[]): number =>
      noGrad(() =>
        tidy(() => {
          const out = f(data.map((d, k) => fromArray(d, inputs[k].shape))).toFloat32Array();
          let s = 0;
          for (let i = 0; i < out.length; i++) s += out[i] * r[i];
          return s;
        }),
      );
    inputs.forEach((input, k) => {
      const analytic = xs[k].grad?.toFloat32Array();
      assert.ok(analytic, `input ${k} received no gradient`);
      const numeric = new Float64Array(input.data.length);
      const data = inputs.map((i) => Float32Array.from(i.data));
      for (let i = 0; i < input.data.length; i++) {
        const orig = data[k][i];
        data[k][i] = orig + eps;
        const lp = loss(data);
        data[k][i] = orig - eps;
        const lm = loss(data);
        data[k][i] = orig;
        numeric[i] = (lp - lm) / (2 * eps);
      }
      assertClose(analytic, numeric, tol, `gradient of input ${k}`);
    });
  });
}
