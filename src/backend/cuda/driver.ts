/**
 * The CUDA driver API (libcuda.so.1) through koffi: device, primary context, one stream, memory, modules
 * and launches. Device pointers are plain numbers (x86-64 device addresses fit in 53 bits); opaque handles
 * (context, stream, module, function, event) stay koffi pointer objects. Every call's status goes through
 * check(), which names the call and the driver's own message.
 */
import { openLibrary, type Koffi, koffi } from './libs.js';

type Fn = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any
export type Handle = unknown;

export interface Driver {
  readonly k: Koffi;
  cuInit: Fn;
  cuDriverGetVersion: Fn;
  cuDeviceGetCount: Fn;
  cuDeviceGet: Fn;
  cuDeviceGetName: Fn;
  cuDeviceGetAttribute: Fn;
  cuDeviceTotalMem: Fn;
  cuDevicePrimaryCtxRetain: Fn;
  cuCtxSetCurrent: Fn;
  cuStreamCreate: Fn;
  cuStreamSynchronize: Fn;
  cuMemAlloc: Fn;
  cuMemFree: Fn;
  cuMemGetInfo: Fn;
  cuMemcpyHtoDAsync: Fn;
  cuMemcpyDtoHAsync: Fn;
  cuMemcpyDtoDAsync: Fn;
  cuMemsetD32Async: Fn;
  cuMemsetD16Async: Fn;
  cuMemsetD8Async: Fn;
  cuModuleLoadData: Fn;
  cuModuleGetFunction: Fn;
  cuFuncSetAttribute: Fn;
  cuLaunchKernel: Fn;
  cuEventCreate: Fn;
  cuEventRecord: Fn;
  cuEventSynchronize: Fn;
  cuEventElapsedTime: Fn;
  cuEventDestroy: Fn;
  cuGetErrorName: Fn;
  cuGetErrorString: Fn;
}

let driver: Driver | null = null;

/** Binds libcuda's functions (throws if the library or koffi is missing). */
export function loadDriver(): Driver {
  if (driver) return driver;
  const { lib } = openLibrary('cuda');
  const k = koffi()!;
  const f = (proto: string): Fn => lib.func(proto) as Fn;
  driver = {
    k,
    cuInit: f('int cuInit(unsigned int flags)'),
    cuDriverGetVersion: f('int cuDriverGetVersion(_Out_ int *version)'),
    cuDeviceGetCount: f('int cuDeviceGetCount(_Out_ int *count)'),
    cuDeviceGet: f('int cuDeviceGet(_Out_ int *device, int ordinal)'),
    cuDeviceGetName: f('int cuDeviceGetName(_Out_ uint8_t *name, int len, int dev)'),
    cuDeviceGetAttribute: f('int cuDeviceGetAttribute(_Out_ int *value, int attrib, int dev)'),
    cuDeviceTotalMem: f('int cuDeviceTotalMem_v2(_Out_ size_t *bytes, int dev)'),
    cuDevicePrimaryCtxRetain: f('int cuDevicePrimaryCtxRetain(_Out_ void **ctx, int dev)'),
    cuCtxSetCurrent: f('int cuCtxSetCurrent(void *ctx)'),
    cuStreamCreate: f('int cuStreamCreate(_Out_ void **stream, unsigned int flags)'),
    cuStreamSynchronize: f('int cuStreamSynchronize(void *stream)'),
    cuMemAlloc: f('int cuMemAlloc_v2(_Out_ uint64_t *dptr, size_t bytes)'),
    cuMemFree: f('int cuMemFree_v2(uint64_t dptr)'),
    cuMemGetInfo: f('int cuMemGetInfo_v2(_Out_ size_t *free, _Out_ size_t *total)'),
    cuMemcpyHtoDAsync: f('int cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t bytes, void *stream)'),
    cuMemcpyDtoHAsync: f('int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t bytes, void *stream)'),
    cuMemcpyDtoDAsync: f('int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t bytes, void *stream)'),
    cuMemsetD32Async: f('int cuMemsetD32Async(uint64_t dst, uint32_t value, size_t count, void *stream)'),
    cuMemsetD16Async: f('int cuMemsetD16Async(uint64_t dst, uint16_t value, size_t count, void *stream)'),
    cuMemsetD8Async: f('int cuMemsetD8Async(uint64_t dst, uint8_t value, size_t count, void *stream)'),
    cuModuleLoadData: f('int cuModuleLoadData(_Out_ void **module, const void *image)'),
    cuModuleGetFunction: f('int cuModuleGetFunction(_Out_ void **fn, void *module, const char *name)'),
    cuFuncSetAttribute: f('int cuFuncSetAttribute(void *fn, int attrib, int value)'),
    cuLaunchKernel: f('int cuLaunchKernel(void *fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int smem, void *stream, void *params, void *extra)'),
    cuEventCreate: f('int cuEventCreate(_Out_ void **event, unsigned int flags)'),
    cuEventRecord: f('int cuEventRecord(void *event, void *stream)'),
    cuEventSynchronize: f('int cuEventSynchronize(void *event)'),
    cuEventElapsedTime: f('int cuEventElapsedTime(_Out_ float *ms, void *start, void *end)'),
    cuEventDestroy: f('int cuEventDestroy_v2(void *event)'),
    cuGetErrorName: f('int cuGetErrorName(int error, _Out_ const char **name)'),
    cuGetErrorString: f('int cuGetErrorString(int error, _Out_ const char **text)'),
  };
  return driver;
}

/** The graph and pinned-memory calls of CUDA graphs (graph.ts), bound on first capture so that a driver without them only turns graphs off. */
export interface GraphDriver {
  cuStreamBeginCapture: Fn;
  cuStreamEndCapture: Fn;
  cuGraphInstantiateWithFlags: Fn;
  cuGraphLaunch: Fn;
  cuGraphExecDestroy: Fn;
  cuGraphDestroy: Fn;
  cuMemAllocHost: Fn;
  cuMemFreeHost: Fn;
  /** cuMemcpyHtoDAsync with the source as an address (pinned memory at an offset). */
  cuMemcpyHtoDAsyncFromAddress: Fn;
}

let graphDriver: GraphDriver | null = null;

/** Binds the CUDA graph calls of libcuda (throws, naming the call, where the driver lacks one). */
export function loadGraphDriver(): GraphDriver {
  if (graphDriver) return graphDriver;
  const { lib } = openLibrary('cuda');
  const f = (proto: string): Fn => lib.func(proto) as Fn;
  graphDriver = {
    cuStreamBeginCapture: f('int cuStreamBeginCapture_v2(void *stream, int mode)'),
    cuStreamEndCapture: f('int cuStreamEndCapture(void *stream, _Out_ void **graph)'),
    cuGraphInstantiateWithFlags: f('int cuGraphInstantiateWithFlags(_Out_ void **exec, void *graph, uint64_t flags)'),
    cuGraphLaunch: f('int cuGraphLaunch(void *exec, void *stream)'),
    cuGraphExecDestroy: f('int cuGraphExecDestroy(void *exec)'),
    cuGraphDestroy: f('int cuGraphDestroy(void *graph)'),
    cuMemAllocHost: f('int cuMemAllocHost_v2(_Out_ void **ptr, size_t bytes)'),
    cuMemFreeHost: f('int cuMemFreeHost(void *ptr)'),
    cuMemcpyHtoDAsyncFromAddress: f('int cuMemcpyHtoDAsync_v2(uint64_t dst, uint64_t src, size_t bytes, void *stream)'),
  };
  return graphDriver;
}

/** CUstreamCaptureMode: relaxed lets the allocator call cuMemAlloc while a stream captures. */
export const CU_STREAM_CAPTURE_MODE_RELAXED = 2;

export const CU_ERROR_OUT_OF_MEMORY = 2;

/** A failed driver call, carrying its status code so callers can react to out-of-memory. */
export class CudaError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'CudaError';
  }
}

/** Throws a CudaError naming `call` and the driver's message unless status is CUDA_SUCCESS. */
export function check(d: Driver, status: number, call: string): void {
  if (status === 0) return;
  const name: (string | null)[] = [null];
  const text: (string | null)[] = [null];
  d.cuGetErrorName(status, name);
  d.cuGetErrorString(status, text);
  throw new CudaError(`${call} failed: ${name[0] ?? `CUDA error ${status}`} (${text[0] ?? 'no description'})`, status);
}

// cuDeviceGetAttribute codes used here (CUdevice_attribute in cuda.h)
export const ATTR = {
  multiprocessorCount: 16,
  computeCapabilityMajor: 75,
  computeCapabilityMinor: 76,
  maxSharedMemoryPerBlockOptin: 97,
} as const;

/** One attribute of a device (checked: a failure names the attribute). */
export function deviceAttribute(d: Driver, attribute: keyof typeof ATTR, device: number): number {
  const v = [0];
  check(d, d.cuDeviceGetAttribute(v, ATTR[attribute], device), `cuDeviceGetAttribute(${attribute})`);
  return v[0];
}

export const CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
