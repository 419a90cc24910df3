/**
 * Per-sample routing of a batch to per-stage sub-networks: each stage present in the batch runs on the
 * samples of that stage (gathered), and the outputs are scattered back into batch order. A batch within
 * one stage runs directly, with no gather or scatter.
 */
import { gather, scatterRows } from '../tensor/ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import type { StagePartition } from '../stages/stage-partition.js';

/** How the last forward call ran its stages: the stages that ran, and whether samples were gathered per stage. */
export interface RouteRecord {
  stages: number[];
  gathered: boolean;
}

/** `sigma` has one value per sample (or one for all); `runStage(stage, take)` computes that stage's output for the samples `take` selects. */
export function routeByStage(
  partition: StagePartition,
  sigma: ArrayLike<number> | undefined,
  batchSize: number,
  runStage: (stage: number, take: (t: Tensor) => Tensor, sigma: Float64Array) => Tensor,
): { output: Tensor; route: RouteRecord } {
  if (!sigma || (sigma.length !== batchSize && sigma.length !== 1)) {
    throw new Error(`a multistage network routes by sigma: pass ${batchSize} values (or 1 for the whole batch), got ${sigma ? sigma.length : 'none'}`);
  }
  const all = Float64Array.from({ length: batchSize }, (_, i) => sigma[sigma.length === 1 ? 0 : i]);
  const active = partition.route(all).map((index, stage) => ({ stage, index })).filter((r) => r.index.length > 0);
  if (active.length === 1) {
    return { output: runStage(active[0].stage, (t) => t, all), route: { stages: [active[0].stage], gathered: false } };
  }
  const parts = active.map(({ stage, index }) => {
    // Per-sample tensors are gathered; a tensor shared by the batch (one row) is passed as it is.
    const take = (t: Tensor): Tensor => (t.shape[0] === batchSize ? gather(t, index) : t);
    return runStage(stage, take, Float64Array.from(index, (i) => all[i]));
  });
  return { output: scatterRows(parts, active.map((r) => r.index), batchSize), route: { stages: active.map((r) => r.stage), gathered: true } };
}
