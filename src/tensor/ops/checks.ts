/** Argument checks shared by the op families. */
import { formatShape } from '../../base/shape.js';
import type { Tensor } from '../tensor.js';

export function checkSameBackend(...ts: Tensor[]): void {
  const b = ts[0].backend;
  for (const t of ts) {
    if (t.backend !== b) throw new Error(`tensors on different devices: ${ts.map((x) => x.device).join(', ')}`);
  }
}

/** float32, or a reduced-precision dtype the backend computes in (its autocast dtypes: bf16 activations). */
export function checkFloat(op: string, ...ts: Tensor[]): void {
  for (const t of ts) {
    if (t.dtype !== 'float32' && !t.backend.autocastDtypes?.includes(t.dtype)) {
      throw new Error(`${op} needs float32 tensors${t.backend.autocastDtypes ? ` (or ${t.backend.autocastDtypes.join(', ')})` : ''} on the ${t.backend.name} backend, got ${t.dtype} ${formatShape(t.shape)}`);
    }
  }
}

export function checkFloat32Params(op: string, ...ts: Tensor[]): void {
  for (const t of ts) if (t.dtype !== 'float32') throw new Error(`${op} needs float32 parameters, got ${t.dtype} ${formatShape(t.shape)}`);
}
