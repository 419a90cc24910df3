import { setBackend } from '../tensor/engine.js';
import { cpuBackend } from '../backend/cpu/index.js';
import { cudaBackend, probeCuda } from '../backend/cuda/index.js';

export type DeviceChoice = 'auto' | 'cpu' | 'cuda';

/**
 * Selects the backend for the run: `auto` takes the GPU when the CUDA backend can start (and says why
 * not otherwise), `cuda` insists on it. Returns a description of what it picked.
 */
export async function useDevice(device: DeviceChoice | string, precision: 'fp32' | 'tf32' = 'fp32'): Promise<string> {
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be auto, cpu or cuda, got "${device}"`);
  if (device !== 'cpu') {
    const probe = probeCuda();
    if (probe.available) {
      setBackend(cudaBackend({ math: precision }));
      return `cuda (${probe.device}, ${precision})`;
    }
    if (device === 'cuda') throw new Error(`--device cuda: the CUDA backend cannot start:\n  ${probe.missing.join('\n  ')}`);
  }
  setBackend(cpuBackend());
  return 'cpu';
}
