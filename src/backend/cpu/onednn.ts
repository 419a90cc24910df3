/**
 * oneDNN (libdnnl.so.2, the C API of oneDNN v2.x), found at run time through koffi and used when present,
 * never required. Debian's python3-torch pulls it in (package libdnnl2); PyTorch's own CPU convolutions
 * are oneDNN's. Where it loads, the CPU backend's convolutions run through it (onednn-conv.ts); where it
 * does not, or STAGEDIFF_CPU_ONEDNN=0, the WebAssembly kernels do, and `stagediff info` says which.
 *
 * Only what the convolutions need is declared: engine, stream, memory descriptors (opaque 696-byte
 * structs, filled by the library), convolution and reorder primitives. Debian's build threads with
 * OpenMP (libgomp); its thread count is set through omp_set_num_threads on the calling thread (a 2.x
 * built with another threading runtime is not used).
 */
import { koffi } from '../cuda/libs.js';
import type { KoffiLib } from '../cuda/libs.js';

/** An opaque handle returned by the library (engine, stream, primitive descriptor, primitive, memory). */
export type Handle = unknown;

/** sizeof(dnnl_memory_desc_t) and sizeof(dnnl_convolution_desc_t) in oneDNN 2.x (x86-64). */
const MEMORY_DESC_BYTES = 696;
const CONVOLUTION_DESC_BYTES = 5976;
/** DNNL_MAX_NDIMS: a dnnl_dims_t is this many int64. */
const MAX_DIMS = 12;

const DataType = { f32: 3 } as const;
export const FormatTag = { any: 1, a: 2, abcd: 5 } as const;
const PropKind = { forwardTraining: 64 } as const;
const CONVOLUTION_DIRECT = 1;
const ENGINE_CPU = 1;
const STREAM_IN_ORDER = 1;
const RUNTIME_OMP = 2;
/** DNNL_MEMORY_ALLOCATE: the library allocates the memory object's buffer itself. */
const LIBRARY_ALLOCATES = BigInt.asUintN(64, -1n);
/** dnnl_query_t values of the memory descriptors a primitive descriptor chose. */
export const Query = { srcMd: 129, diffSrcMd: 130, weightsMd: 131, diffWeightsMd: 132, dstMd: 133, diffDstMd: 134, implInfo: 8 } as const;
/** DNNL_ARG_* */
export const Arg = { src: 1, dst: 17, weights: 33, bias: 41, diffSrc: 129, diffDst: 145, diffWeights: 161, from: 1, to: 17 } as const;

const STATUS = ['success', 'out of memory', 'invalid arguments', 'unimplemented', 'iterator ends', 'runtime error', 'not required'];

type Fn = (...args: unknown[]) => number;

interface Functions {
  version: () => unknown;
  engineCreate: Fn;
  streamCreate: Fn;
  streamWait: Fn;
  memoryDescInitByTag: Fn;
  memoryDescEqual: Fn;
  convolutionForwardDescInit: Fn;
  convolutionBackwardDataDescInit: Fn;
  convolutionBackwardWeightsDescInit: Fn;
  reorderPrimitiveDescCreate: Fn;
  primitiveDescCreate: Fn;
  primitiveDescQueryMd: (pd: Handle, what: number, index: number) => unknown;
  primitiveDescQuery: Fn;
  primitiveCreate: Fn;
  primitiveExecute: Fn;
  memoryCreate: Fn;
  memorySetDataHandle: Fn;
  ompSetNumThreads: (n: number) => void;
}

function declare(lib: KoffiLib): Functions {
  const k = koffi()!;
  const versionType = k.struct('dnnl_version_fields', { major: 'int', minor: 'int', patch: 'int', hash: 'const char *', cpu_runtime: 'unsigned int', gpu_runtime: 'unsigned int' });
  const f = (sig: string): Fn => lib.func(sig) as Fn;
  const versionPtr = lib.func('const void *dnnl_version()');
  return {
    version: () => k.decode(versionPtr(), versionType),
    engineCreate: f('int dnnl_engine_create(_Out_ void **engine, int kind, size_t index)'),
    streamCreate: f('int dnnl_stream_create(_Out_ void **stream, void *engine, unsigned int flags)'),
    streamWait: f('int dnnl_stream_wait(void *stream)'),
    memoryDescInitByTag: f('int dnnl_memory_desc_init_by_tag(void *md, int ndims, const int64_t *dims, int dataType, int tag)'),
    memoryDescEqual: f('int dnnl_memory_desc_equal(const void *lhs, const void *rhs)'),
    convolutionForwardDescInit: f('int dnnl_convolution_forward_desc_init(void *desc, int prop, int alg, const void *src, const void *weights, const void *bias, const void *dst, const int64_t *strides, const int64_t *padL, const int64_t *padR)'),
    convolutionBackwardDataDescInit: f('int dnnl_convolution_backward_data_desc_init(void *desc, int alg, const void *diffSrc, const void *weights, const void *diffDst, const int64_t *strides, const int64_t *padL, const int64_t *padR)'),
    convolutionBackwardWeightsDescInit: f('int dnnl_convolution_backward_weights_desc_init(void *desc, int alg, const void *src, const void *diffWeights, const void *diffBias, const void *diffDst, const int64_t *strides, const int64_t *padL, const int64_t *padR)'),
    reorderPrimitiveDescCreate: f('int dnnl_reorder_primitive_desc_create(_Out_ void **pd, const void *src, void *srcEngine, const void *dst, void *dstEngine, const void *attr)'),
    primitiveDescCreate: f('int dnnl_primitive_desc_create(_Out_ void **pd, const void *desc, const void *attr, void *engine, const void *hint)'),
    primitiveDescQueryMd: lib.func('const void *dnnl_primitive_desc_query_md(const void *pd, int what, int index)') as Functions['primitiveDescQueryMd'],
    primitiveDescQuery: f('int dnnl_primitive_desc_query(const void *pd, int what, int index, _Out_ const char **result)'),
    primitiveCreate: f('int dnnl_primitive_create(_Out_ void **primitive, const void *pd)'),
    primitiveExecute: f('int dnnl_primitive_execute(const void *primitive, void *stream, int nargs, const void *args)'),
    memoryCreate: f('int dnnl_memory_create(_Out_ void **memory, const void *md, void *engine, void *handle)'),
    memorySetDataHandle: f('int dnnl_memory_set_data_handle(void *memory, void *handle)'),
    // looked up through libdnnl's handle: the OpenMP runtime it was linked with, whichever that is
    ompSetNumThreads: lib.func('void omp_set_num_threads(int n)') as (n: number) => void,
  };
}

function check(status: number, what: string): void {
  if (status !== 0) throw new Error(`oneDNN ${what} failed: ${STATUS[status] ?? `status ${status}`}`);
}

/** The library, opened: what onednn-conv.ts builds its primitives with. */
export class OneDnn {
  private readonly engine: Handle;
  private readonly stream: Handle;

  constructor(
    private readonly fns: Functions,
    /** "2.6.3", and the file it came from. */
    readonly version: string,
    readonly path: string,
  ) {
    const engine: Handle[] = [null];
    check(fns.engineCreate(engine, ENGINE_CPU, 0), 'engine creation');
    this.engine = engine[0];
    const stream: Handle[] = [null];
    check(fns.streamCreate(stream, this.engine, STREAM_IN_ORDER), 'stream creation');
    this.stream = stream[0];
    // One OpenMP thread: a primitive's thread count is fixed when it is created, and a filter gradient
    // split over threads sums in an order that depends on it. The backend's pool spreads fixed chunks of
    // images over its threads instead, each thread running its own primitives (onednn-conv.ts).
    fns.ompSetNumThreads(1);
  }

  /** A memory descriptor of float32 dims in a format tag (FormatTag.any lets a primitive choose). */
  memoryDesc(dims: readonly number[], tag: number): Buffer {
    const md = Buffer.alloc(MEMORY_DESC_BYTES);
    check(this.fns.memoryDescInitByTag(md, dims.length, dimsOf(dims), DataType.f32, tag), `memory descriptor [${dims.join(', ')}]`);
    return md;
  }

  /** A primitive descriptor's memory descriptor for `query` (a pointer into the primitive descriptor). */
  chosenDesc(pd: Handle, query: number): unknown {
    return this.fns.primitiveDescQueryMd(pd, query, 0);
  }

  sameDesc(a: unknown, b: unknown): boolean {
    return this.fns.memoryDescEqual(a, b) !== 0;
  }

  /** The implementation a primitive descriptor chose, e.g. "jit:avx512_core" (for the benchmark's report). */
  implementation(pd: Handle): string {
    const name: (string | null)[] = [null];
    check(this.fns.primitiveDescQuery(pd, Query.implInfo, 0, name), 'implementation query');
    return name[0] ?? '?';
  }

  convolutionForward(src: Buffer, weights: Buffer, bias: Buffer | null, dst: Buffer, stride: number, padH: number, padW: number): Handle {
    const desc = Buffer.alloc(CONVOLUTION_DESC_BYTES);
    const [strides, pads] = [dimsOf([stride, stride]), dimsOf([padH, padW])];
    check(this.fns.convolutionForwardDescInit(desc, PropKind.forwardTraining, CONVOLUTION_DIRECT, src, weights, bias, dst, strides, pads, pads), 'convolution descriptor');
    return this.primitiveDesc(desc, null);
  }

  convolutionBackwardData(diffSrc: Buffer, weights: Buffer, diffDst: Buffer, stride: number, padH: number, padW: number, forward: Handle): Handle {
    const desc = Buffer.alloc(CONVOLUTION_DESC_BYTES);
    const [strides, pads] = [dimsOf([stride, stride]), dimsOf([padH, padW])];
    check(this.fns.convolutionBackwardDataDescInit(desc, CONVOLUTION_DIRECT, diffSrc, weights, diffDst, strides, pads, pads), 'convolution data-gradient descriptor');
    return this.primitiveDesc(desc, forward);
  }

  convolutionBackwardWeights(src: Buffer, diffWeights: Buffer, diffDst: Buffer, stride: number, padH: number, padW: number, forward: Handle): Handle {
    const desc = Buffer.alloc(CONVOLUTION_DESC_BYTES);
    const [strides, pads] = [dimsOf([stride, stride]), dimsOf([padH, padW])];
    check(this.fns.convolutionBackwardWeightsDescInit(desc, CONVOLUTION_DIRECT, src, diffWeights, null, diffDst, strides, pads, pads), 'convolution filter-gradient descriptor');
    return this.primitiveDesc(desc, forward);
  }

  reorder(from: unknown, to: unknown): Handle {
    const pd: Handle[] = [null];
    check(this.fns.reorderPrimitiveDescCreate(pd, from, this.engine, to, this.engine, null), 'reorder descriptor');
    return pd[0];
  }

  primitive(pd: Handle): Handle {
    const p: Handle[] = [null];
    check(this.fns.primitiveCreate(p, pd), 'primitive creation');
    return p[0];
  }

  /** A memory object for `md`: over a buffer given at each call (setData), or one the library allocates. */
  memory(md: unknown, libraryAllocates: boolean): Handle {
    const m: Handle[] = [null];
    check(this.fns.memoryCreate(m, md, this.engine, libraryAllocates ? LIBRARY_ALLOCATES : null), 'memory creation');
    return m[0];
  }

  /**
   * Points a memory object at a typed array. The CPU backend's float32 arrays live in SharedArrayBuffers,
   * whose backing stores never move, so the pointer stays good until the array is freed; it is set again
   * before every call that uses it.
   */
  setData(memory: Handle, data: Float32Array): void {
    check(this.fns.memorySetDataHandle(memory, data), 'setting a data handle');
  }

  /** The execution arguments of a primitive, built once: (DNNL_ARG_*, memory) pairs as dnnl_exec_arg_t. */
  execArgs(pairs: readonly (readonly [number, Handle])[]): Buffer {
    const k = koffi()!;
    const args = Buffer.alloc(16 * pairs.length);
    pairs.forEach(([arg, memory], i) => {
      args.writeInt32LE(arg, 16 * i);
      args.writeBigUInt64LE(k.address(memory), 16 * i + 8);
    });
    return args;
  }

  /** Runs primitives in order on this thread and waits for them. */
  execute(steps: readonly { primitive: Handle; args: Buffer; count: number }[]): void {
    for (const s of steps) check(this.fns.primitiveExecute(s.primitive, this.stream, s.count, s.args), 'execution');
    check(this.fns.streamWait(this.stream), 'stream wait');
  }

  private primitiveDesc(desc: Buffer, hint: Handle): Handle {
    const pd: Handle[] = [null];
    check(this.fns.primitiveDescCreate(pd, desc, null, this.engine, hint), 'primitive descriptor');
    return pd[0];
  }
}

function dimsOf(values: readonly number[]): BigInt64Array {
  const dims = new BigInt64Array(MAX_DIMS);
  values.forEach((v, i) => (dims[i] = BigInt(v)));
  return dims;
}

let state: { lib: OneDnn } | { missing: string } | null = null;

/** Whether STAGEDIFF_CPU_ONEDNN turns the library off ("0"); any other value but "1" or unset is an error. */
function disabledByEnvironment(): boolean {
  const value = process.env.STAGEDIFF_CPU_ONEDNN;
  if (value === undefined || value === '' || value === '1') return false;
  if (value === '0') return true;
  throw new Error(`STAGEDIFF_CPU_ONEDNN must be 0 (WebAssembly kernels only) or 1 (oneDNN where found), got "${value}"`);
}

function open(): { lib: OneDnn } | { missing: string } {
  if (disabledByEnvironment()) return { missing: 'turned off by STAGEDIFF_CPU_ONEDNN=0' };
  const k = koffi();
  if (!k) return { missing: 'koffi (the FFI module) did not load' };
  let lib: KoffiLib;
  try {
    lib = k.load('libdnnl.so.2');
  } catch (e) {
    return { missing: `libdnnl.so.2 not found (${(e as Error).message.split('\n')[0]}; on Debian/Ubuntu: apt-get install libdnnl2)` };
  }
  // A library that loads but lacks a function, or whose engine does not start, is not used: the
  // WebAssembly kernels run, and `stagediff info` says why.
  try {
    const fns = declare(lib);
    const v = fns.version() as { major: number; minor: number; patch: number; cpu_runtime: number };
    const version = `${v.major}.${v.minor}.${v.patch}`;
    if (v.major !== 2) return { missing: `libdnnl.so.2 is oneDNN ${version}, not 2.x` };
    if (v.cpu_runtime !== RUNTIME_OMP) return { missing: `libdnnl.so.2 (oneDNN ${version}) is not built with OpenMP (runtime ${v.cpu_runtime})` };
    return { lib: new OneDnn(fns, version, 'libdnnl.so.2') };
  } catch (e) {
    return { missing: `libdnnl.so.2 did not start: ${(e as Error).message.split('\n')[0]}` };
  }
}

/** The opened library, or null where it is missing or turned off (oneDnnStatus says which). */
export function oneDnn(): OneDnn | null {
  state ??= open();
  return 'lib' in state ? state.lib : null;
}

/** For `stagediff info`: which kernels the CPU backend's convolutions use, and why. */
export function oneDnnStatus(): string {
  const lib = oneDnn();
  if (lib) return `oneDNN ${lib.version} (${lib.path}; STAGEDIFF_CPU_ONEDNN=0 turns it off)`;
  return `WebAssembly SIMD (oneDNN not used: ${(state as { missing: string }).missing})`;
}
