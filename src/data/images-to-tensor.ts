import { fromArray, type Tensor } from '../tensor/tensor.js';
import { getBackend } from '../tensor/engine.js';
import type { Backend } from '../backend/backend.js';
import type { Shape } from '../base/shape.js';

/**
 * uint8 pixels as the float32 values diffusion models train on: x / 127.5 - 1, so 0 maps to -1 and 255 to
 * +1 (the data range that EDM's sigma_data = 0.5 assumes).
 */
export function imagesToFloat(images: Uint8Array): Float32Array {
  const values = new Float32Array(images.length);
  for (let i = 0; i < images.length; i++) values[i] = images[i] / 127.5 - 1;
  return values;
}

/** A uint8 image batch as a float32 tensor in the training range (imagesToFloat). */
export function imagesToTensor(images: Uint8Array, shape: Shape, backend: Backend = getBackend()): Tensor {
  return fromArray(imagesToFloat(images), shape, 'float32', backend);
}
