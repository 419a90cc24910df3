/**
 * ||a - b|| / ||b||, summed in float64: 0 for equal arrays, Infinity for arrays of different lengths. The
 * distance the CUDA-graph checks and the tests use to compare a result with its reference.
 */
export function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return num === 0 ? 0 : Math.sqrt(num / Math.max(den, 1e-30));
}
