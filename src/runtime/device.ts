/**
 * Choosing the device of a run: the one module that knows the concrete backends. It sits above the tensor
 * core, which works with whichever backend is set, and below the commands that call it.
 */
import { setAutocast, setBackend } from '../tensor/engine.js';
import { cpuBackend } from '../backend/cpu/index.js';
import { cudaBackend, probeCuda } from '../backend/cuda/index.js';

export type DeviceChoice = 'auto' | 'cpu' | 'cuda';

/**
 * GPU math: 'fp32' and 'tf32' are the CUDA backend's math modes; 'bf16' is autocast to bfloat16 for the
 * convolutions and matrix products, on the TF32 backend for the float32 matrix work that remains (attention).
 */
export type Precision = 'fp32' | 'tf32' | 'bf16';
export const PRECISIONS: readonly Precision[] = ['fp32', 'tf32', 'bf16'];

export function isPrecision(s: string): s is Precision {
  return (PRECISIONS as readonly string[]).includes(s);
}

/**
 * Selects the backend for the run: `auto` takes the GPU when the CUDA backend can start (and says why
 * not otherwise), `cuda` insists on it. Returns a description of what it picked.
 */
export async function useDevice(device: DeviceChoice | string, precision: Precision = 'fp32'): Promise<string> {
  if (device !== 'auto' && device !== 'cpu' && device !== 'cuda') throw new Error(`--device must be auto, cpu or cuda, got "${device}"`);
  // A no-op on the CPU backend, which computes in fp32 only.
  setAutocast(precision === 'bf16' ? 'bfloat16' : null);
  if (device !== 'cpu') {
    const probe = probeCuda();
    if (probe.available) {
      setBackend(cudaBackend({ math: precision === 'fp32' ? 'fp32' : 'tf32' }));
      return `cuda (${probe.device}, ${precision})`;
    }
    if (device === 'cuda') throw new Error(`--device cuda: the CUDA backend cannot start:\n  ${probe.missing.join('\n  ')}`);
  }
  setBackend(cpuBackend());
  return 'cpu';
}
