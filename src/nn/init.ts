/**
 * EDM's weight_init: every weight is drawn from a distribution scaled by the layer's fan-in/fan-out and
 * then multiplied by a per-layer factor (`init_weight`, `init_bias`): 1e-5 for the last conv of each
 * block ("init_zero"), sqrt(0.2) for attention's qkv. Values come from a seeded Generator so a seed
 * reproduces a network on any device.
 */
import { noGrad, tidy } from '../tensor/engine.js';
import { affine, mulScalar } from '../tensor/ops/index.js';
import type { Generator } from '../tensor/random.js';
import type { Shape } from '../base/shape.js';
import { type Tensor, empty, zeros } from '../tensor/tensor.js';

export type InitMode = 'xavier_uniform' | 'xavier_normal' | 'kaiming_uniform' | 'kaiming_normal';

/** EDM's init keyword arguments of Linear and Conv2d. */
export interface WeightInit {
  /** Default 'kaiming_normal', as EDM's layers. */
  mode?: InitMode;
  /** Factor on the drawn weight (EDM's init_weight, default 1). */
  weight?: number;
  /** Factor on the drawn bias (EDM's init_bias, default 0: biases start at zero). */
  bias?: number;
}

/**
 * Where a new module's weights come from: a Generator, or 'empty' to allocate them without values, for a
 * network whose weights are loaded next (or whose shapes alone are wanted): the same construction, minus
 * the cost of drawing and writing every weight.
 */
export type InitSource = Generator | 'empty';

/** A weight of `shape` drawn as EDM's weight_init(shape, mode, fan_in, fan_out) * scale. */
export function weightInit(shape: Shape, mode: InitMode, fanIn: number, fanOut: number, scale: number, source: InitSource): Tensor {
  if (source === 'empty') return empty(shape);
  if (scale === 0) return zeros(shape);
  return noGrad(() =>
    tidy(() => {
      switch (mode) {
        case 'xavier_uniform':
          return symmetricUniform(source, shape, Math.sqrt(6 / (fanIn + fanOut)) * scale);
        case 'xavier_normal':
          return mulScalar(source.normal(shape), Math.sqrt(2 / (fanIn + fanOut)) * scale);
        case 'kaiming_uniform':
          return symmetricUniform(source, shape, Math.sqrt(3 / fanIn) * scale);
        case 'kaiming_normal':
          return mulScalar(source.normal(shape), Math.sqrt(1 / fanIn) * scale);
      }
    }),
  );
}

/** Uniform on (-bound, bound). */
function symmetricUniform(g: Generator, shape: Shape, bound: number): Tensor {
  return affine(g.uniform(shape), 2 * bound, -bound);
}
