/**
 * Per-sample routing of a batch to per-stage sub-networks: each sub-network present in the batch runs on
 * the samples of its stages, and the outputs are put back into batch order. Stages that share a
 * sub-network (training.sharedDecoderImages points several stages at decoder 0) run as one group, so a
 * shared decoder runs once per batch, not once per stage. A batch within one group runs directly. A batch
 * whose groups are contiguous runs of rows (balanced stage sampling sorts its batches by stage) is cut into
 * slices and the outputs concatenated: in backward a slice's gradient is a copy into its rows, where a
 * gather's is a float32 scatter-add (a cast each way for bfloat16 activations). Any other order is gathered
 * and scattered back. All three give the same values.
 */
import { concat, gather, narrow, scatterRows } from '../tensor/ops/index.js';
import type { Tensor } from '../tensor/tensor.js';
import type { StagePartition } from '../stages/stage-partition.js';

/**
 * How the last forward call ran: the stages present, the sub-networks that ran (in the order they ran),
 * and how the batch was split among them ('none': one sub-network, run directly; 'slices': contiguous
 * runs of rows cut into slices; 'gather': gathered per sub-network and scattered back).
 */
export interface RouteRecord {
  stages: number[];
  runs: number[];
  split: 'none' | 'slices' | 'gather';
}

/** Whether the groups' rows, in order, are 0, 1, ..., batchSize - 1 (each group one contiguous run). */
function contiguous(indices: readonly Int32Array[]): boolean {
  let next = 0;
  for (const index of indices) for (const i of index) if (i !== next++) return false;
  return true;
}

/**
 * `sigma` has one value per sample (or one for all); `runsOn[stage]` is the sub-network of a stage
 * (default: its own); `run(net, take, sigma)` computes sub-network `net`'s output for the samples `take`
 * selects.
 */
export function routeByStage(
  partition: StagePartition,
  sigma: ArrayLike<number> | undefined,
  batchSize: number,
  run: (net: number, take: (t: Tensor) => Tensor, sigma: Float64Array) => Tensor,
  runsOn: readonly number[] = Array.from({ length: partition.numStages }, (_, k) => k),
): { output: Tensor; route: RouteRecord } {
  if (!sigma || (sigma.length !== batchSize && sigma.length !== 1)) {
    throw new Error(`a multistage network routes by sigma: pass ${batchSize} values (or 1 for the whole batch), got ${sigma ? sigma.length : 'none'}`);
  }
  const all = Float64Array.from({ length: batchSize }, (_, i) => sigma[sigma.length === 1 ? 0 : i]);
  const byStage = partition.route(all);
  const stages = byStage.flatMap((index, stage) => (index.length > 0 ? [stage] : []));
  // One group per sub-network, in the order of its first stage; its rows are its stages' rows in stage order.
  const groups = new Map<number, Int32Array[]>();
  for (const stage of stages) groups.set(runsOn[stage], [...(groups.get(runsOn[stage]) ?? []), byStage[stage]]);
  const runs = [...groups.keys()];
  const indices = [...groups.values()].map((parts) => (parts.length === 1 ? parts[0] : Int32Array.from(parts.flatMap((p) => [...p]))));
  if (runs.length === 1) {
    return { output: run(runs[0], (t) => t, all), route: { stages, runs, split: 'none' } };
  }
  const sliced = contiguous(indices);
  let start = 0;
  const parts = runs.map((net, g) => {
    const index = indices[g];
    const first = start;
    start += index.length;
    // Per-sample tensors are split; a tensor shared by the batch (one row) is passed as it is.
    const take = (t: Tensor): Tensor => (t.shape[0] !== batchSize ? t : sliced ? narrow(t, 0, first, index.length) : gather(t, index));
    return run(net, take, Float64Array.from(index, (i) => all[i]));
  });
  // (concatenating parts of different dtypes would promote to float32, where scatterRows keeps the first's)
  if (sliced && parts.every((p) => p.dtype === parts[0].dtype)) return { output: concat(parts, 0), route: { stages, runs, split: 'slices' } };
  return { output: scatterRows(parts, indices, batchSize), route: { stages, runs, split: 'gather' } };
}
