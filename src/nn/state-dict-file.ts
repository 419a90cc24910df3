/** A module's state dict as a safetensors file, by the same names PyTorch uses. */
import type { Tensor } from '../tensor/tensor.js';
import type { LoadResult, Module } from './module.js';
import { type HostTensor, readSafetensors, writeSafetensors } from './safetensors.js';

export function hostTensor(t: Tensor): HostTensor {
  return { dtype: t.dtype, shape: [...t.shape], data: t.toArray() };
}

export function saveStateDictFile(module: Module, path: string, metadata: Record<string, string> = {}): void {
  writeSafetensors(path, [...module.stateDict()].map(([name, t]) => [name, hostTensor(t)] as const), metadata);
}

/** Loads a safetensors file into `module` (strict unless told otherwise); errors name the file. */
export function loadStateDictFile(module: Module, path: string, options: { strict?: boolean } = {}): LoadResult {
  const { tensors } = readSafetensors(path);
  try {
    return module.loadStateDict(tensors, options);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}
