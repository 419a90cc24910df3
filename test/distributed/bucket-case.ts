/** The parameters and gradients of gradient-buckets.test.ts, shared by the test and its rank workers. */
export const SIZES = [3, 10, 7, 4, 6];

/** The gradient rank `rank`'s micro-batch `m` gives parameter `i`: small integers, exact in float32. */
export function coefficients(rank: number, m: number, i: number): number[] {
  return Array.from({ length: SIZES[i] }, (_, j) => (rank + 1) * 10 + m * 3 + i - j);
}

/** Rank 1 leaves parameter 2 out (a decoder its samples do not reach) and uses the others in reverse. */
export function used(rank: number): number[] {
  const all = SIZES.map((_, i) => i);
  return rank === 1 ? all.filter((i) => i !== 2).reverse() : all;
}
