/** Comparing the weights of two trainings that should agree up to the rounding of sums. */
import assert from 'node:assert/strict';

/** One unit in the last place of a float32 value. */
function ulp32(v: number): number {
  return v === 0 ? 2 ** -149 : 2 ** (Math.floor(Math.log2(Math.abs(v))) - 23);
}

/**
 * The largest difference between two trainings' weights, relative to the largest change training made to
 * each tensor (`start`: the weights both started from), and how many weights are not bit-equal. A
 * difference of one or two units in the last place of the weight is the rounding of the stored value
 * itself and is left out of `worst`: a group norm's scale starts at 1 and moves by ~1e-3 in a few steps,
 * so one unit (1.2e-7) is already 1e-4 of its change.
 */
export function largestDifference(start: Record<string, Float32Array>, a: Record<string, Float32Array>, b: Record<string, Float32Array>): { worst: number; unequal: number } {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  let worst = 0;
  let unequal = 0;
  for (const [k, x] of Object.entries(a)) {
    const y = b[k];
    const change = Math.max(...x.map((v, i) => Math.abs(v - start[k][i])));
    x.forEach((v, i) => {
      if (v === y[i]) return;
      unequal++;
      const difference = Math.abs(v - y[i]);
      if (difference <= 2 * ulp32(Math.max(Math.abs(v), Math.abs(y[i])))) return;
      worst = Math.max(worst, difference / change);
    });
  }
  return { worst, unequal };
}
