/**
 * The exact best cut of an ordered axis into K contiguous pieces: items 0..n-1 (grid points in time order)
 * go into K non-empty segments, maximising the sum of a score of each segment. Dynamic programming over
 * (number of segments, prefix length): best[k][j] = max_i best[k-1][i] + score(i, j), O(K n^2) score calls.
 * Every clustering of noise levels here is this problem with another segment score.
 */

export interface ContiguousPartition {
  /** Index of the first item of segments 1..K-1 (segment 0 starts at 0), increasing. */
  starts: number[];
  /** The maximised sum of segment scores. */
  score: number;
}

/** segmentScore(start, end) scores the segment of items [start, end). Ties go to the earliest cuts. */
export function bestContiguousPartition(n: number, segments: number, segmentScore: (start: number, end: number) => number): ContiguousPartition {
  if (!Number.isInteger(segments) || segments < 1) throw new Error(`the number of stages must be a positive integer, got ${segments}`);
  if (segments > n) throw new Error(`cannot cut ${n} grid points into ${segments} non-empty stages: use a finer grid or fewer stages`);
  // best[k][j]: best score of k segments covering items [0, j); from[k][j]: where the last of them starts.
  const best = Array.from({ length: segments + 1 }, () => new Float64Array(n + 1).fill(-Infinity));
  const from = Array.from({ length: segments + 1 }, () => new Int32Array(n + 1));
  best[0][0] = 0;
  for (let k = 1; k <= segments; k++) {
    // k segments need at least k items, and must leave one item for each of the remaining ones.
    for (let j = k; j <= n - (segments - k); j++) {
      for (let i = k - 1; i < j; i++) {
        const v = best[k - 1][i] + segmentScore(i, j);
        if (v > best[k][j]) {
          best[k][j] = v;
          from[k][j] = i;
        }
      }
    }
  }
  const starts: number[] = [];
  for (let k = segments, j = n; k > 1; k--) {
    j = from[k][j];
    starts.unshift(j);
  }
  return { starts, score: best[segments][n] };
}
