/** What the CUDA backend's ops share to launch kernels: the context, the allocator and a grid size rule. */
import type { CudaContext, Kernel, KernelModule } from './context.js';
import type { CachingAllocator } from './allocator.js';

export interface Launcher {
  readonly ctx: CudaContext;
  readonly allocator: CachingAllocator;
  /** The kernel `name` of module `m` (compiled on first use). */
  kernel(m: KernelModule, name: string): Kernel;
  /** Blocks for n threads' work, capped at a few waves of the GPU (the dense elementwise kernels take 8 elements a thread: grid(n / 8)). */
  grid(n: number, block?: number): number;
  /** The grid cap: 32 blocks per multiprocessor. */
  readonly blocksCap: number;
  /** Queues a copy of host data to a device address (from pinned memory while a graph is captured). */
  hostToDevice(dst: number, data: ArrayBufferView, what: string): void;
}
