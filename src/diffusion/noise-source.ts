/**
 * Where a sampler's Gaussian noise comes from. One Generator for the whole batch (the library's `sample`
 * with a seed), or one generator per image as EDM's generate.py draws it (its StackedRandomGenerator): image
 * k's initial noise and every later draw for it (the stochastic samplers' fresh noise) come from its own
 * seed, so an image does not depend on the batch it was drawn in, and any subset of a run can be redrawn.
 */
import * as T from '../tensor/index.js';
import type { Backend } from '../backend/backend.js';
import type { Shape, Tensor } from '../tensor/index.js';

export interface NoiseSource {
  /** Standard normal numbers of `shape` (the first axis is the batch). */
  normal(shape: Shape, backend?: Backend): Tensor;
}

export class PerImageGenerators implements NoiseSource {
  private readonly generators: T.Generator[];

  constructor(seeds: readonly number[]) {
    if (seeds.length === 0) throw new Error('per-image noise needs at least one seed');
    this.generators = seeds.map((s) => new T.Generator(s));
  }

  normal(shape: Shape, backend?: Backend): Tensor {
    if (shape[0] !== this.generators.length) throw new Error(`internal: a draw of [${shape.join(', ')}] from ${this.generators.length} per-image generators`);
    const one = shape.slice(1);
    return T.concat(this.generators.map((g) => T.reshape(g.normal(one, backend), [1, ...one])));
  }
}
