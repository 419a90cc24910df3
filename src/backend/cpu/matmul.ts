import type { MatmulParams } from '../backend.js';

/** C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b], row-major. */
export function matmul(a: Float32Array, b: Float32Array, c: Float32Array, p: MatmulParams): void {
  const { m, n, k, transA, transB, alpha, beta } = p;
  const row = new Float64Array(n);
  for (let bt = 0; bt < p.batch; bt++) {
    const ao = bt * p.strideA;
    const bo = bt * p.strideB;
    const co = bt * p.strideC;
    for (let i = 0; i < m; i++) {
      row.fill(0);
      for (let q = 0; q < k; q++) {
        const aiq = transA ? a[ao + q * m + i] : a[ao + i * k + q];
        if (aiq === 0) continue;
        if (transB) for (let j = 0; j < n; j++) row[j] += aiq * b[bo + j * k + q];
        else for (let j = 0, bq = bo + q * n; j < n; j++) row[j] += aiq * b[bq + j];
      }
      const ci = co + i * n;
      if (beta === 0) for (let j = 0; j < n; j++) c[ci + j] = alpha * row[j];
      else for (let j = 0; j < n; j++) c[ci + j] = alpha * row[j] + beta * c[ci + j];
    }
  }
}
