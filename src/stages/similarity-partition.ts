/**
 * K contiguous stages of a time grid from a similarity matrix S (unit diagonal): the exact maximiser, by
 * dynamic programming, of the mean within-stage similarity, under one of two weightings:
 *
 * - per-stage, the official code's objective (a Gurobi model in interval_split/analysis/graph_vis.py):
 *   the sum over stages of the mean of S over all pairs (i, j) of the stage, the diagonal included. Every
 *   stage weighs the same whatever its size, so a one-point stage scores a perfect 1: wherever the
 *   similarity is low (on CIFAR-10, among the high noise levels in x0 space), the optimum isolates single
 *   grid points instead of finding stages.
 * - per-point: the sum over grid points of the point's mean similarity to its stage (itself included),
 *   i.e. sum_k (1 / |C_k|) sum_{i,j in C_k} S_ij, the ratio association that kernel k-means maximises.
 *   Every noise level weighs the same; a one-point stage scores 1 for one point only.
 *
 * A stage's sum of S comes from 2-D prefix sums in O(1).
 */
import { bestContiguousPartition } from './contiguous-partition.js';

export const STAGE_WEIGHTINGS = ['per-point', 'per-stage'] as const;
export type StageWeighting = (typeof STAGE_WEIGHTINGS)[number];

export interface SimilarityPartition {
  /** Grid index where each of stages 1..K-1 begins. */
  starts: number[];
  /** The maximised objective as a mean: over stages (per-stage) or over grid points (per-point). */
  meanWithinStage: number;
}

export function partitionBySimilarity(similarity: readonly (readonly number[])[], stages: number, weighting: StageWeighting = 'per-point'): SimilarityPartition {
  const n = similarity.length;
  if (similarity.some((row) => row.length !== n)) throw new Error(`the similarity matrix must be square, got ${n} rows of lengths ${similarity.map((r) => r.length).join(', ')}`);
  if (!STAGE_WEIGHTINGS.includes(weighting)) throw new Error(`stage weighting must be one of ${STAGE_WEIGHTINGS.join(', ')}, got "${weighting}"`);
  // prefix[i][j] = sum of similarity[a][b] for a < i, b < j.
  const prefix = Array.from({ length: n + 1 }, () => new Float64Array(n + 1));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) prefix[i + 1][j + 1] = similarity[i][j] + prefix[i][j + 1] + prefix[i + 1][j] - prefix[i][j];
  }
  const blockSum = (start: number, end: number): number => prefix[end][end] - prefix[start][end] - prefix[end][start] + prefix[start][start];
  const perStage = weighting === 'per-stage';
  const score = perStage
    ? (start: number, end: number): number => blockSum(start, end) / (end - start) ** 2
    : (start: number, end: number): number => blockSum(start, end) / (end - start);
  const best = bestContiguousPartition(n, stages, score);
  return { starts: best.starts, meanWithinStage: best.score / (perStage ? stages : n) };
}
