import { keep } from '../tensor/engine.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * A trainable tensor: requires grad and lives outside every memory scope (it is freed with its module,
 * not by the `tidy` it happened to be created in). Wraps the storage of `value`, which it takes over.
 */
export class Parameter extends Tensor {
  constructor(value: Tensor) {
    super(value.storage.retain(), value.shape);
    value.dispose();
    this.requiresGrad = true;
    keep(this);
  }
}
