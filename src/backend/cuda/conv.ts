/**
 * Convolutions through cuDNN 9's convolution API: forward, backward data, backward filter, NCHW tensors
 * and [out, in, kh, kw] filters as PyTorch lays them out, or with `channelsLast` NHWC tensors and
 * [out, kh, kw, in] (KRSC) filters, the layout whose tensor-core kernels need no transposes.
 *
 * Per shape (and dtype and math mode) the descriptors are made once, and each direction's algorithm is
 * measured once with cuDNN's Find and cached: the fastest one whose math fits the mode (FMA only in 'fp32'
 * math, so results compare with the CPU at fp32 precision; tensor cores allowed in 'tf32' and for bf16,
 * which accumulates in fp32). One workspace buffer, grown as needed, serves every call.
 */
import type { Conv2dParams } from '../backend.js';
import type { DType } from '../../base/dtype.js';
import { openLibrary, koffi } from './libs.js';
import type { CudaContext } from './context.js';
import type { CachingAllocator, CudaBuffer } from './allocator.js';
import type { MathMode } from './matmul.js';

type Fn = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

const CUDNN_DATA_FLOAT = 0;
const CUDNN_DATA_HALF = 2;
const CUDNN_DATA_BFLOAT16 = 9;
const CUDNN_TENSOR_NCHW = 0;
const CUDNN_TENSOR_NHWC = 1;
const CUDNN_CROSS_CORRELATION = 1;
const CUDNN_DEFAULT_MATH = 0;
const CUDNN_TENSOR_OP_MATH = 1;
// Tensor cores after down-converting fp32 inputs (to fp16/TF32): not exact fp32 either.
const CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2;
const CUDNN_FMA_MATH = 3;
const MAX_ALGOS = 16;
// cudnnStatus_t for a failed device allocation (cudnn_graph.h)
const CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED = 4004;

type Direction = 'forward' | 'backwardData' | 'backwardFilter';

interface Choice {
  algo: number;
  mathType: number;
  workspace: number;
}

interface Plan {
  x: unknown;
  y: unknown;
  w: unknown;
  bias: unknown;
  conv: unknown;
  choice: Partial<Record<Direction, Choice>>;
}

function cudnnType(dtype: DType): number {
  if (dtype === 'float32') return CUDNN_DATA_FLOAT;
  if (dtype === 'bfloat16') return CUDNN_DATA_BFLOAT16;
  if (dtype === 'float16') return CUDNN_DATA_HALF;
  throw new Error(`conv2d does not take ${dtype} tensors`);
}

export class Conv {
  private readonly f: Record<string, Fn> = {};
  private readonly handle: unknown;
  private readonly plans = new Map<string, Plan>();
  private readonly one = Float32Array.of(1);
  private readonly zero = Float32Array.of(0);
  private workspace: CudaBuffer | null = null;
  private readonly perfType: unknown;
  readonly version: number;

  constructor(
    private readonly ctx: CudaContext,
    private readonly allocator: CachingAllocator,
    private readonly math: MathMode,
  ) {
    const { lib } = openLibrary('cudnn');
    const k = koffi()!;
    // cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t share this layout.
    this.perfType = k.struct({ algo: 'int', status: 'int', time: 'float', memory: 'size_t', determinism: 'int', mathType: 'int', reserved: k.array('int', 3) });
    const def = (name: string, proto: string) => (this.f[name] = lib.func(proto) as Fn);
    def('getVersion', 'size_t cudnnGetVersion()');
    def('errorString', 'const char *cudnnGetErrorString(int status)');
    def('lastError', 'void cudnnGetLastErrorString(_Out_ uint8_t *message, size_t max)');
    def('create', 'int cudnnCreate(_Out_ void **handle)');
    def('setStream', 'int cudnnSetStream(void *handle, void *stream)');
    def('createTensor', 'int cudnnCreateTensorDescriptor(_Out_ void **desc)');
    def('setTensor4d', 'int cudnnSetTensor4dDescriptor(void *desc, int format, int type, int n, int c, int h, int w)');
    def('createFilter', 'int cudnnCreateFilterDescriptor(_Out_ void **desc)');
    def('setFilter4d', 'int cudnnSetFilter4dDescriptor(void *desc, int type, int format, int k, int c, int h, int w)');
    def('createConv', 'int cudnnCreateConvolutionDescriptor(_Out_ void **desc)');
    def('setConv2d', 'int cudnnSetConvolution2dDescriptor(void *desc, int padH, int padW, int u, int v, int dilH, int dilW, int mode, int computeType)');
    def('setMath', 'int cudnnSetConvolutionMathType(void *desc, int mathType)');
    def('findForward', 'int cudnnFindConvolutionForwardAlgorithm(void *h, void *x, void *w, void *conv, void *y, int requested, _Out_ int *returned, void *perf)');
    def('findBackwardData', 'int cudnnFindConvolutionBackwardDataAlgorithm(void *h, void *w, void *dy, void *conv, void *dx, int requested, _Out_ int *returned, void *perf)');
    def('findBackwardFilter', 'int cudnnFindConvolutionBackwardFilterAlgorithm(void *h, void *x, void *dy, void *conv, void *dw, int requested, _Out_ int *returned, void *perf)');
    def('forward', 'int cudnnConvolutionForward(void *h, const void *alpha, void *xDesc, uint64_t x, void *wDesc, uint64_t w, void *conv, int algo, uint64_t ws, size_t wsBytes, const void *beta, void *yDesc, uint64_t y)');
    def('backwardData', 'int cudnnConvolutionBackwardData(void *h, const void *alpha, void *wDesc, uint64_t w, void *dyDesc, uint64_t dy, void *conv, int algo, uint64_t ws, size_t wsBytes, const void *beta, void *dxDesc, uint64_t dx)');
    def('backwardFilter', 'int cudnnConvolutionBackwardFilter(void *h, const void *alpha, void *xDesc, uint64_t x, void *dyDesc, uint64_t dy, void *conv, int algo, uint64_t ws, size_t wsBytes, const void *beta, void *dwDesc, uint64_t dw)');
    def('addTensor', 'int cudnnAddTensor(void *h, const void *alpha, void *aDesc, uint64_t a, const void *beta, void *cDesc, uint64_t c)');
    this.version = Number(this.f.getVersion());
    const h: unknown[] = [null];
    this.check(this.f.create(h), 'cudnnCreate', '');
    this.handle = h[0];
    this.check(this.f.setStream(this.handle, ctx.stream), 'cudnnSetStream', '');
  }

  private check(status: number, call: string, what: string): void {
    if (status === 0) return;
    const detail = Buffer.alloc(1024);
    this.f.lastError(detail, 1024);
    const last = detail.toString('utf8').replace(/\0.*$/s, '');
    throw new Error(`${call} failed${what ? ` for ${what}` : ''}: ${this.f.errorString(status)}${last ? ` (${last})` : ''}`);
  }

  forward(x: CudaBuffer, w: CudaBuffer, bias: CudaBuffer | null, y: CudaBuffer, p: Conv2dParams): void {
    const plan = this.plan(x.dtype, p);
    const what = describe(p, x.dtype);
    const c = this.choose(plan, 'forward', p, x.dtype);
    const ws = this.workspaceFor(c.workspace);
    this.check(this.f.forward(this.handle, this.one, plan.x, x.ptr, plan.w, w.ptr, plan.conv, c.algo, ws, c.workspace, this.zero, plan.y, y.ptr), 'cudnnConvolutionForward', what);
    if (bias) this.check(this.f.addTensor(this.handle, this.one, plan.bias, bias.ptr, this.one, plan.y, y.ptr), 'cudnnAddTensor (bias)', what);
  }

  backwardData(dy: CudaBuffer, w: CudaBuffer, dx: CudaBuffer, p: Conv2dParams): void {
    const plan = this.plan(dy.dtype, p);
    const c = this.choose(plan, 'backwardData', p, dy.dtype);
    const ws = this.workspaceFor(c.workspace);
    this.check(this.f.backwardData(this.handle, this.one, plan.w, w.ptr, plan.y, dy.ptr, plan.conv, c.algo, ws, c.workspace, this.zero, plan.x, dx.ptr), 'cudnnConvolutionBackwardData', describe(p, dy.dtype));
  }

  backwardFilter(x: CudaBuffer, dy: CudaBuffer, dw: CudaBuffer, p: Conv2dParams): void {
    const plan = this.plan(x.dtype, p);
    const c = this.choose(plan, 'backwardFilter', p, x.dtype);
    const ws = this.workspaceFor(c.workspace);
    this.check(this.f.backwardFilter(this.handle, this.one, plan.x, x.ptr, plan.y, dy.ptr, plan.conv, c.algo, ws, c.workspace, this.zero, plan.w, dw.ptr), 'cudnnConvolutionBackwardFilter', describe(p, x.dtype));
  }

  private workspaceFor(bytes: number): number {
    if (bytes === 0) return 0;
    if (!this.workspace || this.workspace.byteLength < bytes) {
      if (this.workspace) this.allocator.release(this.workspace);
      this.workspace = this.allocator.alloc(bytes, 'uint8', bytes);
    }
    return this.workspace.use().ptr;
  }

  private plan(dtype: DType, p: Conv2dParams): Plan {
    const key = `${dtype},${p.channelsLast ? 'nhwc' : 'nchw'},${p.n},${p.cIn},${p.h},${p.w},${p.cOut},${p.kh},${p.kw},${p.padH},${p.padW},${p.stride}`;
    const cached = this.plans.get(key);
    if (cached) return cached;
    const what = describe(p, dtype);
    const type = cudnnType(dtype);
    const format = p.channelsLast ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    const make = (create: string): unknown => {
      const d: unknown[] = [null];
      this.check(this.f[create](d), create, what);
      return d[0];
    };
    const x = make('createTensor');
    this.check(this.f.setTensor4d(x, format, type, p.n, p.cIn, p.h, p.w), 'cudnnSetTensor4dDescriptor (input)', what);
    const y = make('createTensor');
    this.check(this.f.setTensor4d(y, format, type, p.n, p.cOut, p.hOut, p.wOut), 'cudnnSetTensor4dDescriptor (output)', what);
    const bias = make('createTensor');
    this.check(this.f.setTensor4d(bias, format, type, 1, p.cOut, 1, 1), 'cudnnSetTensor4dDescriptor (bias)', what);
    const w = make('createFilter');
    this.check(this.f.setFilter4d(w, type, format, p.cOut, p.cIn, p.kh, p.kw), 'cudnnSetFilter4dDescriptor', what);
    const conv = make('createConv');
    this.check(this.f.setConv2d(conv, p.padH, p.padW, p.stride, p.stride, 1, 1, CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), 'cudnnSetConvolution2dDescriptor', what);
    const plan: Plan = { x, y, w, bias, conv, choice: {} };
    this.plans.set(key, plan);
    return plan;
  }

  /** The direction's algorithm for this plan: measured once by cuDNN's Find, fastest allowed one kept. */
  private choose(plan: Plan, dir: Direction, p: Conv2dParams, dtype: DType): Choice {
    const have = plan.choice[dir];
    if (have) {
      this.check(this.f.setMath(plan.conv, have.mathType), 'cudnnSetConvolutionMathType', describe(p, dtype));
      return have;
    }
    const what = `${describe(p, dtype)} (${dir})`;
    const exact = dtype === 'float32' && this.math === 'fp32';
    this.check(this.f.setMath(plan.conv, exact ? CUDNN_FMA_MATH : CUDNN_TENSOR_OP_MATH), 'cudnnSetConvolutionMathType', what);
    const k = koffi()!;
    const perf = Buffer.alloc(k.sizeof(this.perfType as never) * MAX_ALGOS);
    const returned = [0];
    const h = this.handle;
    // Find runs each candidate on scratch memory cuDNN allocates itself: measure once, outside any graph.
    this.ctx.synchronize(`cuStreamSynchronize before cuDNN Find for ${what}`);
    const call = dir === 'forward' ? 'cudnnFindConvolutionForwardAlgorithm' : dir === 'backwardData' ? 'cudnnFindConvolutionBackwardDataAlgorithm' : 'cudnnFindConvolutionBackwardFilterAlgorithm';
    const find = (): number =>
      dir === 'forward' ? this.f.findForward(h, plan.x, plan.w, plan.conv, plan.y, MAX_ALGOS, returned, perf)
      : dir === 'backwardData' ? this.f.findBackwardData(h, plan.w, plan.y, plan.conv, plan.x, MAX_ALGOS, returned, perf)
      : this.f.findBackwardFilter(h, plan.x, plan.y, plan.conv, plan.w, MAX_ALGOS, returned, perf);
    let status = find();
    // Find allocates its scratch with cudaMalloc, outside our allocator: when our cache holds the memory,
    // give the cached blocks back and measure again.
    if (status === CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED) {
      this.allocator.emptyCache();
      status = find();
    }
    this.check(status, call, what);
    const results = k.decode(perf, this.perfType as never, returned[0]) as { algo: number; status: number; memory: number; mathType: number }[];
    const ok = results.filter((r) => r.status === 0 && (!exact || (r.mathType !== CUDNN_TENSOR_OP_MATH && r.mathType !== CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)));
    if (ok.length === 0) throw new Error(`cuDNN found no usable algorithm for ${what}${exact ? ' in fp32 (FMA) math' : ''}`);
    // Results come sorted by time; the first allowed is the fastest.
    const best = ok[0];
    const choice: Choice = { algo: best.algo, mathType: best.mathType === CUDNN_DEFAULT_MATH && exact ? CUDNN_FMA_MATH : best.mathType, workspace: Number(best.memory) };
    plan.choice[dir] = choice;
    this.check(this.f.setMath(plan.conv, choice.mathType), 'cudnnSetConvolutionMathType', what);
    return choice;
  }
}

function describe(p: Conv2dParams, dtype: DType): string {
  if (p.channelsLast) {
    return `${dtype} channels-last conv2d input [${p.n}, ${p.h}, ${p.w}, ${p.cIn}], weight [${p.cOut}, ${p.kh}, ${p.kw}, ${p.cIn}], pad (${p.padH}, ${p.padW}), stride ${p.stride}, output [${p.n}, ${p.hOut}, ${p.wOut}, ${p.cOut}]`;
  }
  return `${dtype} conv2d input [${p.n}, ${p.cIn}, ${p.h}, ${p.w}], weight [${p.cOut}, ${p.cIn}, ${p.kh}, ${p.kw}], pad (${p.padH}, ${p.padW}), stride ${p.stride}, output [${p.n}, ${p.cOut}, ${p.hOut}, ${p.wOut}]`;
}
