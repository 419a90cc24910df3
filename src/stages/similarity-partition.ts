/**
 * K contiguous stages of a time grid from a similarity matrix, as the official code's grid clustering
 * (a Gurobi model in interval_split/analysis/graph_vis.py) defines them: maximise the sum over stages of
 * the mean similarity of all pairs (i, j) inside the stage, the diagonal included. Solved exactly here by
 * dynamic programming; a stage's mean comes from 2-D prefix sums in O(1).
 */
import { bestContiguousPartition } from './contiguous-partition.js';

export interface SimilarityPartition {
  /** Grid index where each of stages 1..K-1 begins. */
  starts: number[];
  /** The mean over stages of the mean within-stage similarity (the objective divided by K). */
  meanWithinStage: number;
}

export function partitionBySimilarity(similarity: readonly (readonly number[])[], stages: number): SimilarityPartition {
  const n = similarity.length;
  if (similarity.some((row) => row.length !== n)) throw new Error(`the similarity matrix must be square, got ${n} rows of lengths ${similarity.map((r) => r.length).join(', ')}`);
  // prefix[i][j] = sum of similarity[a][b] for a < i, b < j.
  const prefix = Array.from({ length: n + 1 }, () => new Float64Array(n + 1));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) prefix[i + 1][j + 1] = similarity[i][j] + prefix[i][j + 1] + prefix[i + 1][j] - prefix[i][j];
  }
  const blockMean = (start: number, end: number): number =>
    (prefix[end][end] - prefix[start][end] - prefix[end][start] + prefix[start][start]) / ((end - start) * (end - start));
  const { starts, score } = bestContiguousPartition(n, stages, blockMean);
  return { starts, meanWithinStage: score / stages };
}
