/**
 * Per-sample routing of a batch to per-stage sub-networks: each stage present in the batch runs on the
 * samples of that stage, and the outputs are put back into batch order. A batch within one stage runs
 * directly. A batch sorted by stage (balanced stage sampling draws its batches so) is cut into contiguous
 * slices and the outputs concatenated: in backward a slice's gradient is a copy into its rows, where a
 * gather's is a float32 scatter-add (a cast each way for bfloat16 activations). Any other order is gathered
 * and scattered back. All three give the same values.
 */
import { concat, gather, narrow, scatterRows } from '../tensor/ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import type { StagePartition } from '../stages/stage-partition.js';

/**
 * How the last forward call ran its stages: the stages that ran, and how the batch was split among them
 * ('none': one stage, run directly; 'slices': a stage-sorted batch cut into slices; 'gather': gathered per
 * stage and scattered back).
 */
export interface RouteRecord {
  stages: number[];
  split: 'none' | 'slices' | 'gather';
}

/** Whether the stages' rows, in stage order, are 0, 1, ..., batchSize - 1 (each stage one contiguous run). */
function stageSorted(indices: readonly Int32Array[]): boolean {
  let next = 0;
  for (const index of indices) for (const i of index) if (i !== next++) return false;
  return true;
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
    return { output: runStage(active[0].stage, (t) => t, all), route: { stages: [active[0].stage], split: 'none' } };
  }
  const stages = active.map((r) => r.stage);
  const indices = active.map((r) => r.index);
  const sliced = stageSorted(indices);
  let start = 0;
  const parts = active.map(({ stage, index }) => {
    const first = start;
    start += index.length;
    // Per-sample tensors are split; a tensor shared by the batch (one row) is passed as it is.
    const take = (t: Tensor): Tensor => (t.shape[0] !== batchSize ? t : sliced ? narrow(t, 0, first, index.length) : gather(t, index));
    return runStage(stage, take, Float64Array.from(index, (i) => all[i]));
  });
  // (concatenating parts of different dtypes would promote to float32, where scatterRows keeps the first's)
  if (sliced && parts.every((p) => p.dtype === parts[0].dtype)) return { output: concat(parts, 0), route: { stages, split: 'slices' } };
  return { output: scatterRows(parts, indices, batchSize), route: { stages, split: 'gather' } };
}
