/** Tensor bookkeeping shared by the samplers' update rules. */
import * as T from '../../tensor/index.js';
import type { Tensor } from '../../tensor/index.js';

/**
 * Computes the next state in a memory scope and frees the current one, so a sampler's memory stays flat
 * however many steps it takes.
 */
export function advance(x: Tensor, next: () => Tensor): Tensor {
  const y = T.tidy(next);
  x.dispose();
  return y;
}

/**
 * sum_i c_i * t_i, the linear combination every update rule is made of (zero coefficients skipped). Always a
 * new tensor, never one of the inputs, so the caller may free its inputs.
 */
export function combine(...terms: [number, Tensor][]): Tensor {
  const used = terms.filter(([c]) => c !== 0);
  if (used.length === 0) return T.mulScalar(terms[0][1], 0);
  if (used.length === 1) return T.mulScalar(used[0][1], used[0][0]);
  return used.map(([c, t]) => (c === 1 ? t : T.mulScalar(t, c))).reduce((a, b) => T.add(a, b));
}
