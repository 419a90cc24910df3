/**
 * clusterStages: the library side of `stagediff cluster`. Picks K stage boundaries on the time axis of
 * the caller's schedule by one of four methods and returns them as a StagePartition (EDM sigma), as VP
 * times and as discrete steps, with the curves or matrix behind them as JSON-able data.
 *
 * - optimal-denoiser: the general form. Similarity of every pair of points of a time grid (grid-similarity.ts),
 *   then the K contiguous stages that maximise the mean within-stage similarity, exactly (similarity-partition.ts).
 * - algorithm1: the paper's Algorithm 1 (three stages only).
 * - uniform, snr: the paper's baselines (baselines.ts).
 * A boundary between two grid points is placed midway between them.
 */
import { StagePartition } from './stage-partition.js';
import { Generator } from '../tensor/random.js';
import { DEFAULT_ETA, checkEta } from './agreement.js';
import { type Algorithm1Boundaries, type Algorithm1Curves, algorithm1Boundaries, algorithm1Curves, checkAlpha } from './algorithm1.js';
import { type SnrClustering, equalLogSnrBoundaries, snrClustering, uniformTimeBoundaries } from './baselines.js';
import { type GridSimilarity, gridSimilarity } from './grid-similarity.js';
import { type NoiseLevelAt, sigmaOf, timeGrid } from './noise-level.js';
import { drawNoisingPairs } from './noising-pairs.js';
import { OptimalDenoiser, type OptimalDenoiserOptions } from './optimal-denoiser.js';
import { STAGE_WEIGHTINGS, type StageWeighting, partitionBySimilarity } from './similarity-partition.js';
import { type VectorDataset, checkDataset } from './vector-dataset.js';

export const CLUSTER_METHODS = ['optimal-denoiser', 'algorithm1', 'uniform', 'snr', 'snr-equal'] as const;
export type ClusterMethod = (typeof CLUSTER_METHODS)[number];

/** Which denoiser output the optimal-denoiser method compares (see grid-similarity.ts). */
export type SimilaritySpace = 'x0' | 'epsilon';

export interface ClusterProgress {
  done: number;
  total: number;
}

export interface ClusterOptions {
  method: ClusterMethod;
  /** K, the number of stages (3 for algorithm1). */
  stages: number;
  /** The schedule: noise level at time t, sigma increasing in t. */
  levelAt: NoiseLevelAt;
  /** The training set, in the units eta is given in; needed by optimal-denoiser and algorithm1. */
  dataset?: VectorDataset;
  /** The time axis clustered, [tMin, tMax]; default [1e-3, 1] as the official VP code. */
  tMin?: number;
  tMax?: number;
  /** Agreement threshold of D; default 2/255 (pixels in [0, 1]). */
  eta?: number;
  /** Algorithm 1's agreement level in (0, 1]; default 0.9, which reproduces the paper's CIFAR-10 boundaries (docs/clustering.md). */
  alpha?: number;
  /** (x0, eps) pairs: Algorithm 1's K triples (default 1000), or pairs per grid point (default 100). */
  samples?: number;
  /** Grid points: default 50 for optimal-denoiser, 1000 for snr (as the official code). */
  gridSize?: number;
  /** Default x0, as the official grid code. */
  space?: SimilaritySpace;
  /** How stages of different sizes weigh in the mean within-stage similarity; default per-point (similarity-partition.ts). */
  weighting?: StageWeighting;
  /** Seed of the (x0, eps, t) draws. Default 0. */
  seed?: number;
  /** Discrete steps the time axis is divided into for the `step` form of a boundary. Default 1000. */
  discreteSteps?: number;
  /** Chunking and backend of the optimal denoiser. */
  denoiser?: OptimalDenoiserOptions;
  onProgress?: (progress: ClusterProgress) => void;
}

/** One boundary between stage k and k + 1 in each of the forms a formulation asks for. */
export interface StageBoundary {
  t: number;
  sigma: number;
  /** round(t * discreteSteps): the LDM variant's boundaries (442, 631 of 1000). */
  step: number;
}

export interface ClusterResult {
  method: ClusterMethod;
  stages: number;
  boundaries: StageBoundary[];
  /** The boundaries in sigma, ready to save with a model (serialises as { sigma_boundaries }). */
  partition: StagePartition;
  /** Every setting the result depends on, defaults filled in. */
  settings: Record<string, number | string>;
  algorithm1?: Algorithm1Curves & Algorithm1Boundaries;
  grid?: GridSimilarity & { space: SimilaritySpace; weighting: StageWeighting; starts: number[]; meanWithinStage: number };
  snr?: SnrClustering;
}

export function clusterStages(options: ClusterOptions): ClusterResult {
  const { method, stages, levelAt } = options;
  const tMin = options.tMin ?? 1e-3;
  const tMax = options.tMax ?? 1;
  const discreteSteps = options.discreteSteps ?? 1000;
  if (!(CLUSTER_METHODS as readonly string[]).includes(method)) throw new Error(`unknown clustering method "${method}"; use one of ${CLUSTER_METHODS.join(', ')}`);
  if (!Number.isInteger(stages) || stages < 1) throw new Error(`the number of stages must be a positive integer, got ${stages}`);
  if (!(tMin > 0 && tMin < tMax && tMax <= 1)) throw new Error(`the clustered time axis must satisfy 0 < tMin < tMax <= 1, got [${tMin}, ${tMax}]`);
  if (!Number.isInteger(discreteSteps) || discreteSteps < 1) throw new Error(`discreteSteps must be a positive integer, got ${discreteSteps}`);

  const settings: Record<string, number | string> = { method, stages, tMin, tMax, discreteSteps };
  const result = (times: number[], extra: Partial<ClusterResult>): ClusterResult => {
    const boundaries = times.map((t) => ({ t, sigma: sigmaOf(levelAt(t)), step: Math.round(t * discreteSteps) }));
    return { method, stages, boundaries, partition: new StagePartition(boundaries.map((b) => b.sigma)), settings, ...extra };
  };
  const midpoints = (t: readonly number[], starts: readonly number[]): number[] => starts.map((s) => (t[s - 1] + t[s]) / 2);

  if (method === 'uniform') return result(uniformTimeBoundaries(stages, tMin, tMax), {});
  if (method === 'snr-equal') return result(equalLogSnrBoundaries(stages, levelAt, tMin, tMax), {});
  if (method === 'snr') {
    const gridSize = (settings.gridSize = options.gridSize ?? 1000);
    checkGrid(gridSize, stages);
    const snr = snrClustering(stages, levelAt, gridSize, tMin, tMax);
    return result(midpoints(snr.t, snr.starts), { snr });
  }

  // The data methods: check everything before the expensive part.
  const eta = (settings.eta = options.eta ?? DEFAULT_ETA);
  const seed = (settings.seed = options.seed ?? 0);
  checkEta(eta);
  const dataset = options.dataset;
  if (!dataset) throw new Error(`clustering method "${method}" needs the training set (dataset)`);
  checkDataset(dataset);
  settings.datasetSize = dataset.count;
  const generator = new Generator(seed);
  const onProgress = (done: number, total: number): void => options.onProgress?.({ done, total });

  if (method === 'algorithm1') {
    if (stages !== 3) throw new Error(`Algorithm 1 finds exactly 3 stages (asked for ${stages}); use the optimal-denoiser method for K stages`);
    const alpha = (settings.alpha = options.alpha ?? 0.9);
    const samples = (settings.samples = options.samples ?? 1000);
    checkAlpha(alpha);
    const pairs = drawNoisingPairs(dataset, samples, generator);
    const levels = [...generator.uniformHost(samples)].map((u) => levelAt(tMin + (tMax - tMin) * u));
    const curves = withDenoiser(dataset, options.denoiser, (denoiser) => algorithm1Curves(denoiser, pairs, levels, eta, onProgress));
    const { t1, t2 } = algorithm1Boundaries(curves, alpha);
    if (t1 === null) throw new Error(`Algorithm 1: even the lowest-noise samples agree with eps less than alpha = ${alpha} on average; lower alpha`);
    if (t2 === null) throw new Error(`Algorithm 1: even the highest-noise samples agree with the data mean's prediction less than alpha = ${alpha}; lower alpha`);
    if (!(t1 < t2)) throw new Error(`Algorithm 1 at alpha = ${alpha} gives t1 = ${t1} >= t2 = ${t2}: the low and high stages overlap; raise alpha`);
    return result([t1, t2], { algorithm1: { ...curves, t1, t2 } });
  }

  const gridSize = (settings.gridSize = options.gridSize ?? 50);
  const samples = (settings.samples = options.samples ?? 100);
  const space = options.space ?? 'x0';
  if (space !== 'x0' && space !== 'epsilon') throw new Error(`similarity space must be "x0" or "epsilon", got "${space}"`);
  const weighting = (settings.weighting = options.weighting ?? 'per-point');
  if (!STAGE_WEIGHTINGS.includes(weighting)) throw new Error(`stage weighting must be one of ${STAGE_WEIGHTINGS.join(', ')}, got "${weighting}"`);
  settings.space = space;
  checkGrid(gridSize, stages);
  const grid = [...timeGrid(gridSize, tMin, tMax)].map(levelAt);
  const pairs = drawNoisingPairs(dataset, samples, generator);
  const similarity = withDenoiser(dataset, options.denoiser, (denoiser) => gridSimilarity(denoiser, pairs, grid, eta, onProgress));
  const { starts, meanWithinStage } = partitionBySimilarity(similarity[space], stages, weighting);
  return result(midpoints(similarity.t, starts), { grid: { ...similarity, space, weighting, starts, meanWithinStage } });
}

function checkGrid(gridSize: number, stages: number): void {
  if (!Number.isInteger(gridSize) || gridSize < 2) throw new Error(`the time grid needs an integer number of points >= 2, got ${gridSize}`);
  if (stages > gridSize) throw new Error(`cannot cut a grid of ${gridSize} points into ${stages} stages: raise gridSize or lower stages`);
}

function withDenoiser<R>(dataset: VectorDataset, options: OptimalDenoiserOptions | undefined, use: (denoiser: OptimalDenoiser) => R): R {
  const denoiser = new OptimalDenoiser(dataset, options);
  try {
    return use(denoiser);
  } finally {
    denoiser.dispose();
  }
}
