/**
 * Eigenvalues (and optionally eigenvectors) of a real symmetric matrix in float64: Householder reduction
 * to tridiagonal form, then the implicit QL algorithm with Wilkinson-style shifts (EISPACK's tred2 and
 * tql2). O(n^3); backward stable, so eigenvalues are exact to about n * 2^-52 * ||A||.
 *
 * Matrices are flat Float64Arrays. The working matrix is addressed column-major (element (row r,
 * column c) at c * n + r) so that every inner loop, which runs down a column, reads contiguous memory; a
 * symmetric input is the same in either order, and the eigenvectors come back as contiguous columns.
 */

export interface SymmetricEigen {
  /** Ascending. */
  values: Float64Array;
  /** Column j (elements j*n .. j*n+n-1) is the unit eigenvector of values[j]; absent when not asked for. */
  vectors?: Float64Array;
}

/**
 * The eigensystem of the symmetric n x n matrix `a` (only read, never changed). Without `vectors`, the
 * Householder transformations are not accumulated and the QL sweeps skip the rotations of the vectors:
 * about a third of the work.
 */
export function symmetricEigen(a: Float64Array, n: number, options: { vectors?: boolean } = {}): SymmetricEigen {
  if (a.length !== n * n) throw new Error(`symmetricEigen: ${a.length} elements is not a ${n} x ${n} matrix`);
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) throw new Error(`symmetricEigen: element ${i} of the matrix is ${a[i]}`);
  const wantVectors = options.vectors ?? false;
  const v = Float64Array.from(a);
  const d = new Float64Array(n);
  const e = new Float64Array(n);
  if (n === 0) return { values: d, vectors: wantVectors ? v : undefined };
  tridiagonalize(v, n, d, e, wantVectors);
  qlImplicit(d, e, n, wantVectors ? v : null);
  return sortAscending(d, wantVectors ? v : null, n);
}

/** (r, c) of the column-major working matrix. */
const at = (n: number, r: number, c: number): number => c * n + r;

/**
 * Householder reduction of the matrix in `v` to tridiagonal form: diagonal into d, subdiagonal into
 * e[1..n-1]. With `accumulate`, v ends as the orthogonal transformation; otherwise it is scratch.
 */
function tridiagonalize(v: Float64Array, n: number, d: Float64Array, e: Float64Array, accumulate: boolean): void {
  for (let j = 0; j < n; j++) d[j] = v[at(n, n - 1, j)];
  for (let i = n - 1; i > 0; i--) {
    let scale = 0;
    let h = 0;
    for (let k = 0; k < i; k++) scale += Math.abs(d[k]);
    if (scale === 0) {
      e[i] = d[i - 1];
      for (let j = 0; j < i; j++) {
        d[j] = v[at(n, i - 1, j)];
        v[at(n, i, j)] = 0;
        v[at(n, j, i)] = 0;
      }
    } else {
      for (let k = 0; k < i; k++) {
        d[k] /= scale;
        h += d[k] * d[k];
      }
      let f = d[i - 1];
      let g = Math.sqrt(h);
      if (f > 0) g = -g;
      e[i] = scale * g;
      h -= f * g;
      d[i - 1] = f - g;
      for (let j = 0; j < i; j++) e[j] = 0;
      // e = A d (lower triangle of A, columns contiguous), and the Householder vector saved in column i.
      for (let j = 0; j < i; j++) {
        f = d[j];
        v[at(n, j, i)] = f;
        const col = j * n;
        g = e[j] + v[col + j] * f;
        for (let k = j + 1; k <= i - 1; k++) {
          g += v[col + k] * d[k];
          e[k] += v[col + k] * f;
        }
        e[j] = g;
      }
      f = 0;
      for (let j = 0; j < i; j++) {
        e[j] /= h;
        f += e[j] * d[j];
      }
      const hh = f / (h + h);
      for (let j = 0; j < i; j++) e[j] -= hh * d[j];
      for (let j = 0; j < i; j++) {
        f = d[j];
        g = e[j];
        const col = j * n;
        for (let k = j; k <= i - 1; k++) v[col + k] -= f * e[k] + g * d[k];
        d[j] = v[at(n, i - 1, j)];
        v[at(n, i, j)] = 0;
      }
    }
    d[i] = h;
  }
  if (!accumulate) {
    // The reduction leaves the tridiagonal's diagonal on v's diagonal (d held the h's).
    for (let j = 0; j < n; j++) d[j] = v[at(n, j, j)];
    e[0] = 0;
    return;
  }
  for (let i = 0; i < n - 1; i++) {
    v[at(n, n - 1, i)] = v[at(n, i, i)];
    v[at(n, i, i)] = 1;
    const h = d[i + 1];
    const next = (i + 1) * n;
    if (h !== 0) {
      for (let k = 0; k <= i; k++) d[k] = v[next + k] / h;
      for (let j = 0; j <= i; j++) {
        const col = j * n;
        let g = 0;
        for (let k = 0; k <= i; k++) g += v[next + k] * v[col + k];
        for (let k = 0; k <= i; k++) v[col + k] -= g * d[k];
      }
    }
    for (let k = 0; k <= i; k++) v[next + k] = 0;
  }
  for (let j = 0; j < n; j++) {
    d[j] = v[at(n, n - 1, j)];
    v[at(n, n - 1, j)] = 0;
  }
  v[at(n, n - 1, n - 1)] = 1;
  e[0] = 0;
}

/** Implicit QL on the tridiagonal (d, e[1..]); eigenvalues into d; rotations applied to v's columns when given. */
function qlImplicit(d: Float64Array, e: Float64Array, n: number, v: Float64Array | null): void {
  for (let i = 1; i < n; i++) e[i - 1] = e[i];
  e[n - 1] = 0;
  const eps = 2 ** -52;
  let f = 0;
  let tst1 = 0;
  for (let l = 0; l < n; l++) {
    tst1 = Math.max(tst1, Math.abs(d[l]) + Math.abs(e[l]));
    let m = l;
    while (m < n - 1 && Math.abs(e[m]) > eps * tst1) m++;
    if (m > l) {
      let iterations = 0;
      do {
        if (++iterations > 60) throw new Error(`symmetricEigen: the QL iteration did not converge for eigenvalue ${l} of ${n}`);
        let g = d[l];
        let p = (d[l + 1] - g) / (2 * e[l]);
        let r = Math.hypot(p, 1);
        if (p < 0) r = -r;
        d[l] = e[l] / (p + r);
        d[l + 1] = e[l] * (p + r);
        const dl1 = d[l + 1];
        let h = g - d[l];
        for (let i = l + 2; i < n; i++) d[i] -= h;
        f += h;
        p = d[m];
        let c = 1;
        let c2 = c;
        let c3 = c;
        const el1 = e[l + 1];
        let s = 0;
        let s2 = 0;
        for (let i = m - 1; i >= l; i--) {
          c3 = c2;
          c2 = c;
          s2 = s;
          g = c * e[i];
          h = c * p;
          r = Math.hypot(p, e[i]);
          e[i + 1] = s * r;
          s = e[i] / r;
          c = p / r;
          p = c * d[i] - s * g;
          d[i + 1] = h + s * (c * g + s * d[i]);
          if (v) {
            const ci = i * n;
            const cn = (i + 1) * n;
            for (let k = 0; k < n; k++) {
              const vh = v[cn + k];
              v[cn + k] = s * v[ci + k] + c * vh;
              v[ci + k] = c * v[ci + k] - s * vh;
            }
          }
        }
        p = (-s * s2 * c3 * el1 * e[l]) / dl1;
        e[l] = s * p;
        d[l] = c * p;
      } while (Math.abs(e[l]) > eps * tst1);
    }
    d[l] += f;
    e[l] = 0;
  }
}

function sortAscending(d: Float64Array, v: Float64Array | null, n: number): SymmetricEigen {
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => d[a] - d[b]);
  const values = Float64Array.from(order, (i) => d[i]);
  if (!v) return { values };
  const vectors = new Float64Array(n * n);
  order.forEach((from, to) => vectors.set(v.subarray(from * n, (from + 1) * n), to * n));
  return { values, vectors };
}
