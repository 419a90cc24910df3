/**
 * The CUDA backend: every kernel of the Backend interface on one NVIDIA GPU, through the driver API, NVRTC
 * (our fused kernels, kernels/*.ts), cuBLASLt (matmul.ts) and cuDNN (conv.ts), all reached through koffi.
 * dispatch.ts is the table of ops and the kernels that run them.
 *
 * Importing this module loads nothing: probeCuda() says what is there and what is missing, and
 * cudaBackend() opens the libraries on first call (and throws the probe's findings if they are missing).
 */
import type { MathMode } from './matmul.js';
import { probeCuda } from './probe.js';
import { type CudaBackend, Core, createBackend } from './dispatch.js';

export type { AllocatorStats } from './allocator.js';
export type { MathMode } from './matmul.js';
export { type CudaProbe, probeCuda } from './probe.js';
export type { CudaBackend } from './dispatch.js';
export { type CudaGraph, GraphCaptureError, type PhiloxStream } from './graph.js';

export interface CudaOptions {
  /**
   * Math of float32 matrix work (matmul, conv, attention): 'fp32' is true fp32 (compares with the CPU to
   * 1e-5), 'tf32' lets tensor cores round inputs to TF32 (about 1e-3). bfloat16 operands always accumulate
   * in fp32. Default 'fp32'.
   */
  math?: MathMode;
}

let core: Core | null = null;
const instances = new Map<MathMode, CudaBackend>();

/** The CUDA backend (one instance per math mode, all on GPU 0). Throws, saying what is missing, without a GPU. */
export function cudaBackend(options: CudaOptions = {}): CudaBackend {
  const math = options.math ?? 'fp32';
  const existing = instances.get(math);
  if (existing) return existing;
  if (!core) {
    const probe = probeCuda();
    if (!probe.available) throw new Error(`the CUDA backend is not available: ${probe.missing.join('; ')}`);
    core = new Core();
  }
  const b = createBackend(core, math);
  instances.set(math, b);
  return b;
}
