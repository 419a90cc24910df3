/**
 * A mixture of Gaussians and its exact optimal denoiser. Noising x0 ~ sum_k pi_k N(mu_k, S_k) to level sigma
 * gives sum_k pi_k N(mu_k, S_k + sigma^2 I), and the posterior mean is
 *   D(x; sigma) = sum_k r_k(x) (mu_k + S_k (S_k + sigma^2 I)^-1 (x - mu_k)),  r_k = posterior of component k,
 * so sampling with D must reproduce the mixture: the reference against which every sampler is tested.
 * Each covariance is diagonalised once (S = U diag(l) U^T); then every noise level costs a rotation.
 */
import * as T from '../tensor/index.js';
import type { Generator } from '../tensor/index.js';
import type { Denoiser } from './denoiser.js';

export interface MixtureComponent {
  weight: number;
  mean: readonly number[];
  /** Symmetric positive definite, dim x dim. */
  covariance: readonly (readonly number[])[];
}

export interface MixturePosterior {
  /** E[x0 | x]. */
  mean: Float64Array;
  /** P(component k | x). */
  responsibilities: Float64Array;
}

interface Eigen {
  values: Float64Array;
  /** Row-major dim x dim; column j is the eigenvector of values[j]. */
  vectors: Float64Array;
}

export class GaussianMixture {
  readonly dim: number;
  private readonly eigen: Eigen[];

  constructor(readonly components: readonly MixtureComponent[]) {
    if (components.length === 0) throw new Error('a Gaussian mixture needs at least one component');
    this.dim = components[0].mean.length;
    const total = components.reduce((s, c) => s + c.weight, 0);
    if (Math.abs(total - 1) > 1e-9) throw new Error(`mixture weights must sum to 1, got ${total}`);
    this.eigen = components.map((c, k) => {
      if (!(c.weight > 0)) throw new Error(`component ${k}: weight must be > 0, got ${c.weight}`);
      if (c.mean.length !== this.dim) throw new Error(`component ${k}: mean has ${c.mean.length} entries, expected ${this.dim}`);
      if (c.covariance.length !== this.dim || c.covariance.some((row) => row.length !== this.dim)) throw new Error(`component ${k}: covariance must be ${this.dim} x ${this.dim}`);
      const a = Float64Array.from(c.covariance.flat());
      for (let i = 0; i < this.dim; i++) {
        for (let j = 0; j < i; j++) if (Math.abs(a[i * this.dim + j] - a[j * this.dim + i]) > 1e-12) throw new Error(`component ${k}: covariance is not symmetric`);
      }
      const e = symmetricEigen(a, this.dim);
      if (e.values.some((v) => !(v > 0))) throw new Error(`component ${k}: covariance is not positive definite (eigenvalues ${[...e.values].join(', ')})`);
      return e;
    });
  }

  /** Posterior of x0 given x = x0 + sigma n (sigma >= 0). */
  posterior(x: ArrayLike<number>, sigma: number): MixturePosterior {
    const { dim } = this;
    const s2 = sigma * sigma;
    const logw = new Float64Array(this.components.length);
    const means = this.components.map((c, k) => {
      const { values, vectors } = this.eigen[k];
      const v = this.rotate(x, c.mean, vectors);
      let logN = 0;
      for (let j = 0; j < dim; j++) {
        const var_ = values[j] + s2;
        logN -= 0.5 * (v[j] * v[j] / var_ + Math.log(2 * Math.PI * var_));
        v[j] *= values[j] / var_; // shrink toward the mean along each principal axis
      }
      logw[k] = Math.log(c.weight) + logN;
      const m = Float64Array.from(c.mean);
      for (let i = 0; i < dim; i++) for (let j = 0; j < dim; j++) m[i] += vectors[i * dim + j] * v[j];
      return m;
    });
    const responsibilities = softmax(logw);
    const mean = new Float64Array(dim);
    means.forEach((m, k) => m.forEach((v, i) => (mean[i] += responsibilities[k] * v)));
    return { mean, responsibilities };
  }

  /** log p_sigma(x), the density of the mixture noised to level sigma. */
  logDensity(x: ArrayLike<number>, sigma: number): number {
    const s2 = sigma * sigma;
    const terms = this.components.map((c, k) => {
      const { values, vectors } = this.eigen[k];
      const v = this.rotate(x, c.mean, vectors);
      let logN = Math.log(c.weight);
      for (let j = 0; j < this.dim; j++) logN -= 0.5 * (v[j] * v[j] / (values[j] + s2) + Math.log(2 * Math.PI * (values[j] + s2)));
      return logN;
    });
    const m = Math.max(...terms);
    return m + Math.log(terms.reduce((s, t) => s + Math.exp(t - m), 0));
  }

  /** The optimal denoiser for batches [B, ...] whose rows hold `dim` numbers, each row at its own sigma. */
  denoiser(): Denoiser {
    return (x, sigma) => {
      const b = x.shape[0];
      if (x.size !== b * this.dim) throw new Error(`mixture denoiser: input [${x.shape.join(', ')}] does not hold ${this.dim} numbers per sample`);
      if (sigma.size !== b) throw new Error(`mixture denoiser: ${sigma.size} noise levels for a batch of ${b}`);
      const xs = x.toFloat32Array();
      const sig = sigma.toFloat32Array();
      const out = new Float32Array(xs.length);
      for (let i = 0; i < b; i++) out.set(this.posterior(xs.subarray(i * this.dim, (i + 1) * this.dim), sig[i]).mean, i * this.dim);
      return T.fromArray(out, x.shape, 'float32', x.backend);
    };
  }

  /** `count` draws, row-major [count, dim]. */
  sample(count: number, generator: Generator): Float64Array {
    const { dim } = this;
    const pick = generator.uniformHost(count);
    const z = generator.normalHost(count * dim);
    const out = new Float64Array(count * dim);
    for (let n = 0; n < count; n++) {
      let k = 0;
      let acc = this.components[0].weight;
      while (k < this.components.length - 1 && pick[n] > acc) acc += this.components[++k].weight;
      const { values, vectors } = this.eigen[k];
      for (let i = 0; i < dim; i++) {
        let v = this.components[k].mean[i];
        for (let j = 0; j < dim; j++) v += vectors[i * dim + j] * Math.sqrt(values[j]) * z[n * dim + j];
        out[n * dim + i] = v;
      }
    }
    return out;
  }

  /** U^T (x - mean): x in the component's principal axes. */
  private rotate(x: ArrayLike<number>, mean: readonly number[], vectors: Float64Array): Float64Array {
    const { dim } = this;
    const v = new Float64Array(dim);
    for (let j = 0; j < dim; j++) for (let i = 0; i < dim; i++) v[j] += vectors[i * dim + j] * (x[i] - mean[i]);
    return v;
  }
}

function softmax(logits: Float64Array): Float64Array {
  const m = Math.max(...logits);
  const e = logits.map((l) => Math.exp(l - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Cyclic Jacobi rotations: exact to rounding for the small symmetric matrices of a test mixture. */
function symmetricEigen(matrix: Float64Array, n: number): Eigen {
  const a = Float64Array.from(matrix);
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  const scale = a.reduce((s, x) => s + x * x, 0);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q] ** 2;
    if (off <= 1e-30 * scale) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        if (apq === 0) continue;
        // The rotation by angle phi with cot(2 phi) = theta zeroes a[p][q]; t = tan(phi), the smaller root.
        const theta = (a[q * n + q] - a[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p];
          const akq = a[k * n + q];
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k];
          const aqk = a[q * n + k];
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p];
          const vkq = v[k * n + q];
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  return { values: Float64Array.from({ length: n }, (_, i) => a[i * n + i]), vectors: v };
}
