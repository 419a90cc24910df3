import { setBackend } from '../tensor/engine.js';
import { cpuBackend } from '../backend/cpu/index.js';

/** Selects the backend for the run (`auto`: the GPU when the CUDA backend can start). Returns what it picked. */
export async function useDevice(device: 'auto' | 'cpu' | 'cuda' | string): Promise<string> {
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be auto, cpu or cuda, got "${device}"`);
  if (device === 'cuda') throw new Error('the CUDA backend is not wired into the CLI yet: use --device cpu');
  setBackend(cpuBackend());
  return 'cpu';
}
