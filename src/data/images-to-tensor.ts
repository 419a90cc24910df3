import { fromArray, type Tensor } from '../tensor/tensor.js';
import { getBackend } from '../tensor/engine.js';
import type { Backend } from '../backend/backend.js';
import type { Shape } from '../base/shape.js';

/**
 * A uint8 image batch as the float32 tensor diffusion models train on: x / 127.5 - 1, so 0 maps to -1 and
 * 255 to +1 (the data range that EDM's sigma_data = 0.5 assumes).
 */
export function imagesToTensor(images: Uint8Array, shape: Shape, backend: Backend = getBackend()): Tensor {
  const values = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) values[i] = images[i] / 127.5 - 1;
  return fromArray(values, shape, 'float32', backend);
}
