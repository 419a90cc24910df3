/**
 * Autocast's policy for the ops that compute in reduced precision (conv2d and matmul; docs/design.md, "Mixed
 * precision"): while autocast is on they run on copies of their operands in its dtype, made off the tape so
 * that the op records against the originals and the gradients come back in each operand's own dtype.
 */
import type { Backend } from '../../backend/backend.js';
import type { DType } from '../../base/dtype.js';
import { autocastDtype, noGrad } from '../engine.js';
import type { Tensor } from '../tensor.js';
import { cast } from './elementwise.js';

/** The dtype such an op computes in: the autocast dtype in force on `backend`, else float32. */
export function computeDtype(backend: Backend): DType {
  return autocastDtype(backend) ?? 'float32';
}

/** The operands in `dtype` (an operand already in it is itself), not recorded. */
export function castOperands(operands: readonly Tensor[], dtype: DType): Tensor[] {
  return noGrad(() => operands.map((t) => cast(t, dtype)));
}

/** Frees the copies castOperands made: they live on only where the op's node saved them. */
export function releaseCasts(copies: readonly Tensor[], operands: readonly Tensor[]): void {
  for (const t of copies) if (!operands.includes(t)) t.dispose();
}
