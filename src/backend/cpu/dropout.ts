import { philoxFill } from '../../base/philox.js';
import { float32Scratch } from './scratch.js';

const uniforms = float32Scratch();

/** Inverted dropout with the mask drawn from the Philox stream at (key, counter): see Backend.dropout. */
export function dropout(x: Float32Array, out: Float32Array, n: number, p: number, key: readonly [number, number], counter: number): void {
  const u = uniforms.take(n);
  philoxFill(u, n, key, counter, false);
  const scale = 1 / (1 - p);
  for (let i = 0; i < n; i++) out[i] = u[i] >= p ? x[i] * scale : 0;
}
