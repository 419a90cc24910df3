/**
 * The CUDA backend's op table: each Backend op and the kernel (ours through NVRTC, cuBLASLt, cuDNN) or
 * planner that runs it. Work is queued on one stream; only downloads and synchronize() wait for it.
 */
import type { Backend, BatchNormParams, BinaryOp, Conv2dParams, DeviceBuffer, GroupNormParams, MatmulParams, Pool2dParams, ResampleParams, ResizeParams, StridedOperand, UnaryOp } from '../backend.js';
import { type HostArray, type DType, allocHost, bytesPerElement } from '../../base/dtype.js';
import { stridesOf } from '../../base/shape.js';
import { cast as cpuCast } from '../cpu/layout.js';
import { check } from './driver.js';
import { CudaContext, type KernelModule } from './context.js';
import { type AllocatorStats, CachingAllocator, type CudaBuffer } from './allocator.js';
import { Matmul, type MathMode } from './matmul.js';
import { Conv } from './conv.js';
import type { Launcher } from './launcher.js';
import { buf, f32, fl, sameFloat } from './operands.js';
import { collapse } from './strided.js';
import { reduce } from './reduce.js';
import { attention, attentionBackward } from './attention.js';
import { fir } from './resample.js';
import { adamMany, emaMany, nanToNumMany, scaleMany, sumSquaresMany } from './multi-tensor.js';
import { timeMs } from './timing.js';
import { type CudaGraph, type GraphCapture, GraphCaptureError, type PhiloxStream, captureGraph } from './graph.js';
import { BINARY_CODES, DTYPE_CODES, ELEMENTWISE, MAX_DIMS, BCAST, UNARY_CODES } from './kernels/elementwise.js';
import { floatSuffix } from './kernels/common.js';
import { LAYOUT, MAX_PERM_DIMS, PERM } from './kernels/layout.js';
import { RANDOM } from './kernels/random.js';
import { GROUP_NORM } from './kernels/groupnorm.js';
import { POOL2D } from './kernels/pool2d.js';
import { BATCH_NORM } from './kernels/batchnorm.js';
import { BILINEAR } from './kernels/bilinear.js';

/** The CUDA backend plus what only a GPU has: memory statistics and timing. */
export interface CudaBackend extends Backend {
  readonly name: 'cuda';
  readonly device: string;
  readonly math: MathMode;
  memoryStats(): AllocatorStats;
  resetPeakMemory(): void;
  /** Returns cached free blocks to the driver. */
  emptyCache(): void;
  /** Milliseconds of GPU time taken by the work fn queues (synchronises). */
  timeMs(fn: () => void): number;
  /** The CUstream all work is queued on, for libraries that queue theirs behind it (NCCL). */
  readonly stream: unknown;
  /**
   * Captures the work `fn` queues into a CUDA graph without running it (graph.ts says what a capture
   * needs); `philox`: the random stream fn draws from and its counter before fn. Throws GraphCaptureError,
   * leaving nothing behind, when fn does anything a graph cannot replay.
   */
  captureGraph(fn: () => void, philox?: PhiloxStream): CudaGraph;
  /**
   * A buffer for an input of the graph being captured that the host writes before each replay (outside a
   * capture: alloc). Not from the graph's pool: captured work queued before the input was allocated may
   * have used the same pool block, and a replay runs that work after the host's write.
   */
  allocGraphInput(dtype: DType, length: number): DeviceBuffer;
}

/** The state every math mode shares: one context, stream and allocator, so buffers are interchangeable. */
export class Core {
  readonly ctx = new CudaContext(0);
  readonly allocator = new CachingAllocator(this.ctx);
  readonly blocksCap = this.ctx.multiprocessors * 32;
  /** The graph capture in progress (graph.ts), or null. */
  capture: GraphCapture | null = null;

  /** Queues a copy of host `data` to device address `dst`; while a graph is captured, from pinned memory the graph keeps. */
  hostToDevice(dst: number, data: ArrayBufferView, what: string): void {
    if (data.byteLength === 0) return;
    if (this.capture) return this.capture.hostToDevice(this, dst, data, what);
    check(this.ctx.d, this.ctx.d.cuMemcpyHtoDAsync(dst, data, data.byteLength, this.ctx.stream), `cuMemcpyHtoDAsync (${what})`);
  }

  /** Throws where `what` would wait for the device inside a capture, which a replay cannot do. */
  refuseWhileCapturing(what: string): void {
    if (this.capture) throw new GraphCaptureError(`${what} waits for the GPU, which a CUDA graph cannot capture`);
  }
}

export function createBackend(core: Core, math: MathMode): CudaBackend {
  const { ctx, allocator } = core;
  const d = ctx.d;
  const matmul = new Matmul(ctx, allocator, math);
  let convImpl: Conv | null = null;
  // cuDNN loads (and initialises) on the first convolution only.
  const conv = (): Conv => (convImpl ??= new Conv(ctx, allocator, math));
  const k = (m: KernelModule, name: string) => ctx.kernel(m, name);
  const grid = (n: number, block = 256): number => Math.max(1, Math.min(Math.ceil(n / block), core.blocksCap));
  const hostToDevice = (dst: number, data: ArrayBufferView, what: string): void => core.hostToDevice(dst, data, what);
  const launcher: Launcher = { ctx, allocator, kernel: k, grid, blocksCap: core.blocksCap, hostToDevice };

  const uploadIndex = (index: Int32Array): CudaBuffer => {
    const b = allocator.alloc(index.byteLength, 'int32', index.length);
    hostToDevice(b.ptr, index, 'row index');
    return b;
  };

  const rowKernel = (base: string, dtype: DType): string => `${base}_${bytesPerElement(dtype)}`;

  const backend: CudaBackend = {
    name: 'cuda',
    autocastDtypes: ['bfloat16'],
    device: ctx.deviceName,
    math,
    stream: ctx.stream,

    alloc: (dtype, length) => allocator.alloc(length * bytesPerElement(dtype), dtype, length),
    free: (b) => allocator.release(buf(b)),
    upload: (b, data) => {
      const c = buf(b);
      if (data.byteLength > c.byteLength) throw new Error(`upload of ${data.byteLength} bytes into a GPU buffer of ${c.byteLength}`);
      hostToDevice(c.ptr, data, `${data.byteLength} bytes`);
    },
    download: (b, dtype, length): HostArray => {
      core.refuseWhileCapturing(`a download of ${length} ${dtype} elements`);
      const c = buf(b);
      const host = allocHost(dtype, length);
      if (host.byteLength > c.byteLength) throw new Error(`download of ${length} ${dtype} elements from a GPU buffer of ${c.byteLength} bytes`);
      if (host.byteLength > 0) check(d, d.cuMemcpyDtoHAsync(host, c.ptr, host.byteLength, ctx.stream), `cuMemcpyDtoHAsync (${host.byteLength} bytes)`);
      ctx.synchronize(`download of ${length} ${dtype} elements (an earlier kernel may have failed; STAGEDIFF_CUDA_SYNC=1 finds which)`);
      return host;
    },
    fill: (b, length, value) => {
      const c = buf(b);
      if (length === 0) return;
      const scratch = new DataView(new ArrayBuffer(4));
      switch (c.dtype) {
        case 'float32':
          scratch.setFloat32(0, value, true);
          return check(d, d.cuMemsetD32Async(c.ptr, scratch.getUint32(0, true), length, ctx.stream), 'cuMemsetD32Async');
        case 'int32':
          return check(d, d.cuMemsetD32Async(c.ptr, Math.trunc(value) >>> 0, length, ctx.stream), 'cuMemsetD32Async');
        case 'bfloat16':
        case 'float16': {
          const one = allocHost('float32', 1);
          one[0] = value;
          const h = allocHost(c.dtype, 1);
          // the CPU backend's rounding (layout.cast), so fills agree bit for bit
          cpuCast(one, 'float32', h, c.dtype, 1);
          return check(d, d.cuMemsetD16Async(c.ptr, h[0], length, ctx.stream), 'cuMemsetD16Async');
        }
        case 'uint8':
          return check(d, d.cuMemsetD8Async(c.ptr, Math.min(255, Math.max(0, Math.round(value))), length, ctx.stream), 'cuMemsetD8Async');
      }
    },
    cast: (xb, xd, ob, od, n) => {
      const x = buf(xb);
      const o = buf(ob);
      if (n === 0) return;
      if (xd === od) return void check(d, d.cuMemcpyDtoDAsync(o.ptr, x.ptr, n * bytesPerElement(xd), ctx.stream), 'cuMemcpyDtoDAsync (cast)');
      if ((xd === 'float32' || xd === 'bfloat16') && (od === 'float32' || od === 'bfloat16')) {
        return void k(ELEMENTWISE, `cast_${floatSuffix(xd, 'cast')}_${floatSuffix(od, 'cast')}`).launch(grid(n / 8), 256, 0, [x.ptr, o.ptr, n]);
      }
      k(ELEMENTWISE, 'cast').launch(grid(n), 256, 0, [x.ptr, DTYPE_CODES[xd], o.ptr, DTYPE_CODES[od], n]);
    },
    copyRows: (sb, so, ss, db, d0, ds, rows, len) => {
      const src = buf(sb);
      const dst = buf(db);
      const es = bytesPerElement(src.dtype);
      if (rows === 0 || len === 0) return;
      if (rows === 1 || (ss === len && ds === len)) {
        check(d, d.cuMemcpyDtoDAsync(dst.ptr + d0 * es, src.ptr + so * es, rows * len * es, ctx.stream), 'cuMemcpyDtoDAsync (copyRows)');
        return;
      }
      // 16 bytes a thread where every offset allows (concatenating channels of NCHW activations)
      const units = [so, ss, d0, ds, len].map((v) => v * es);
      if (units.every((b) => b % 16 === 0) && src.ptr % 16 === 0 && dst.ptr % 16 === 0) {
        const [so16, ss16, d016, ds16, len16] = units.map((b) => b / 16);
        k(LAYOUT, 'copy_rows_16').launch(grid(rows * len16), 256, 0, [src.ptr, so16, ss16, dst.ptr, d016, ds16, len16, rows * len16]);
        return;
      }
      const n = rows * len;
      k(LAYOUT, rowKernel('copy_rows', src.dtype)).launch(grid(n), 256, 0, [src.ptr, so, ss, dst.ptr, d0, ds, len, n]);
    },

    unary: (op: UnaryOp, x, out, n) => {
      if (n > 0) k(ELEMENTWISE, `unary_${sameFloat(op, x, out)}`).launch(grid(n / 8), 256, 0, [buf(x).ptr, buf(out).ptr, n, UNARY_CODES[op]]);
    },
    unaryBackward: (op, x, dy, dx, n) => {
      if (n > 0) k(ELEMENTWISE, `unary_backward_${sameFloat(op, x, dy, dx)}`).launch(grid(n / 8), 256, 0, [buf(x).ptr, buf(dy).ptr, buf(dx).ptr, n, UNARY_CODES[op]]);
    },
    affine: (x, out, n, scale, shift) => {
      if (n > 0) k(ELEMENTWISE, `affine_${sameFloat('affine', x, out)}`).launch(grid(n / 8), 256, 0, [buf(x).ptr, buf(out).ptr, n, scale, shift]);
    },
    powScalar: (x, out, n, e) => {
      if (n > 0) k(ELEMENTWISE, `pow_${sameFloat('pow', x, out)}`).launch(grid(n), 256, 0, [buf(x).ptr, buf(out).ptr, n, e]);
    },
    binary: (op: BinaryOp, a: StridedOperand, b: StridedOperand, ob, shape) => {
      const n = shape.reduce((x, y) => x * y, 1);
      if (n === 0) return;
      const A = fl(a.buf, op);
      const B = fl(b.buf, op);
      const out = fl(ob, op);
      const types = `${A.s}_${B.s}_${out.s}`;
      const dense = stridesOf(shape);
      const c = collapse(shape, [a.strides, b.strides, dense]);
      // both operands dense and shaped like the output: no index arithmetic
      if (c.dims.length === 0 || (c.dims.length === 1 && c.strides[0][0] === 1 && c.strides[1][0] === 1)) {
        k(ELEMENTWISE, `binary_dense_${types}`).launch(grid(n / 8), 256, 0, [A.ptr, B.ptr, out.ptr, n, BINARY_CODES[op]]);
        return;
      }
      if (c.dims.length > MAX_DIMS) throw new Error(`binary ${op} over ${JSON.stringify(shape)}: more than ${MAX_DIMS} broadcast dims after merging`);
      const s = BCAST.pack({ nd: c.dims.length, dim: c.dims, sa: c.strides[0], sb: c.strides[1] });
      k(ELEMENTWISE, `binary_${types}`).launch(grid(n), 256, 0, [A.ptr, B.ptr, out.ptr, n, BINARY_CODES[op], s], () => `${op} over ${JSON.stringify(shape)}`);
    },
    reduceSum: (x, inShape, out, outShape) => reduce(launcher, false, x, inShape, out, outShape),
    reduceMax: (x, inShape, out, outShape) => reduce(launcher, true, x, inShape, out, outShape),
    permute: (xb, inShape, perm, ob) => {
      const x = buf(xb);
      const out = buf(ob);
      const n = inShape.reduce((a, b) => a * b, 1);
      if (n === 0) return;
      const inStrides = stridesOf(inShape);
      const c = collapse(perm.map((p) => inShape[p]), [perm.map((p) => inStrides[p]), stridesOf(perm.map((p) => inShape[p]))]);
      const t = batchedTranspose(c.dims, c.strides[0]);
      const size = bytesPerElement(x.dtype);
      if (t && (size === 2 || size === 4)) {
        k(LAYOUT, `transpose_${size}`).launch([Math.ceil(t.cols / 32), Math.ceil(t.rows / 32), t.batch], [32, 8, 1], 0, [x.ptr, out.ptr, t.rows, t.cols]);
        return;
      }
      if (c.dims.length > MAX_PERM_DIMS) throw new Error(`permute of ${JSON.stringify(inShape)}: more than ${MAX_PERM_DIMS} dims`);
      const s = PERM.pack({ nd: c.dims.length, dim: c.dims, stride: c.strides[0] });
      k(LAYOUT, rowKernel('permute', x.dtype)).launch(grid(n), 256, 0, [x.ptr, out.ptr, n, s]);
    },
    gatherRows: (sb, index, ob, len) => {
      const src = buf(sb);
      const n = index.length * len;
      if (n === 0) return;
      const idx = uploadIndex(index);
      k(LAYOUT, rowKernel('gather_rows', src.dtype)).launch(grid(n), 256, 0, [src.ptr, idx.ptr, buf(ob).ptr, len, n]);
      allocator.release(idx);
    },
    scatterAddRows: (sb, index, ob, len) => {
      const n = index.length * len;
      if (n === 0) return;
      const idx = uploadIndex(index);
      k(LAYOUT, 'scatter_add_rows_f32').launch(grid(n), 256, 0, [f32(sb, 'scatterAddRows').ptr, idx.ptr, f32(ob, 'scatterAddRows').ptr, len, n]);
      allocator.release(idx);
    },

    matmul: (a, b, c, p: MatmulParams) => matmul.run(buf(a), buf(b), buf(c), p),
    conv2d: (x, w, bias, y, p: Conv2dParams) => conv().forward(buf(x), buf(w), bias ? buf(bias) : null, buf(y), p),
    conv2dBackwardData: (dy, w, dx, p) => conv().backwardData(buf(dy), buf(w), buf(dx), p),
    conv2dBackwardFilter: (x, dy, dw, p) => conv().backwardFilter(buf(x), buf(dy), buf(dw), p),

    groupNorm: (x, g, b, y, mean, rstd, p: GroupNormParams) => {
      const what = () => `groupNorm${p.silu ? '+SiLU' : ''} of [${p.n}, ${p.c}, ${p.hw}]${p.channelsLast ? ' channels last' : ''} in ${p.groups} groups`;
      const s = sameFloat('groupNorm', x, y);
      const layout = p.channelsLast ? 'nhwc_' : '';
      k(GROUP_NORM, `group_norm_forward_${layout}${s}`).launch(p.n * p.groups, 256, 0, [buf(x).ptr, f32(g, 'groupNorm').ptr, f32(b, 'groupNorm').ptr, buf(y).ptr, f32(mean, 'groupNorm').ptr, f32(rstd, 'groupNorm').ptr, p.c, p.hw, p.groups, p.eps, p.silu ? 1 : 0], what);
    },
    groupNormBackward: (x, g, b, mean, rstd, dy, dx, dg, db, p) => {
      const what = () => `groupNorm${p.silu ? '+SiLU' : ''} backward of [${p.n}, ${p.c}, ${p.hw}]${p.channelsLast ? ' channels last' : ''} in ${p.groups} groups`;
      const s = sameFloat('groupNorm backward', x, dy, dx);
      const cpg = p.c / p.groups;
      const threads = 256;
      // Channels last, each thread keeps eight partial sums per direction, and one thread per channel of the
      // group must fit in the block.
      if (p.channelsLast && cpg > threads) throw new Error(`channels-last groupNorm backward takes at most ${threads} channels per group, got ${cpg} (${p.c} channels in ${p.groups} groups): run this network in NCHW (training.channelsLast off, no --channels-last)`);
      const shared = (2 * cpg + (p.channelsLast ? 2 * 8 * threads : 0)) * 4;
      const sums = allocator.alloc(p.n * p.c * 2 * 4, 'float32', p.n * p.c * 2);
      const layout = p.channelsLast ? 'nhwc_' : '';
      k(GROUP_NORM, `group_norm_backward_${layout}${s}`).launch(p.n * p.groups, threads, shared, [buf(x).ptr, f32(g, 'groupNorm').ptr, f32(b, 'groupNorm').ptr, f32(mean, 'groupNorm').ptr, f32(rstd, 'groupNorm').ptr, buf(dy).ptr, buf(dx).ptr, sums.ptr, p.c, p.hw, p.groups, p.silu ? 1 : 0], what);
      k(GROUP_NORM, 'group_norm_param_grads').launch(grid(p.c), 256, 0, [sums.ptr, f32(dg, 'groupNorm').ptr, f32(db, 'groupNorm').ptr, p.n, p.c], what);
      allocator.release(sums);
    },

    attention: (qkv, out, w, p) => attention(launcher, matmul, qkv, out, w, p),
    attentionBackward: (qkv, w, dout, dqkv, p) => attentionBackward(launcher, matmul, qkv, w, dout, dqkv, p),

    resample: (x, y, p: ResampleParams) => fir(launcher, buf(x), p.h, p.w, buf(y), p.hOut, p.wOut, p.mode === 'up', p),
    resampleBackward: (dy, dx, p) => fir(launcher, buf(dy), p.hOut, p.wOut, buf(dx), p.h, p.w, p.mode === 'down', p),

    pool2d: (x, y, p: Pool2dParams) => {
      const n = p.n * p.c * p.hOut * p.wOut;
      const what = () => `${p.mode} pool ${p.kernel}x${p.kernel} stride ${p.stride} pad ${p.pad} of [${p.n}, ${p.c}, ${p.h}, ${p.w}]`;
      if (n > 0) k(POOL2D, `pool2d_${sameFloat('pool2d', x, y)}`).launch(grid(n), 256, 0, [buf(x).ptr, buf(y).ptr, p.n * p.c, p.h, p.w, p.hOut, p.wOut, p.kernel, p.stride, p.pad, p.mode === 'max' ? 1 : 0], what);
    },
    batchNormEval: (x, mean, variance, gamma, beta, y, p: BatchNormParams) => {
      const n = p.n * p.c * p.hw;
      const stats = [mean, variance, gamma, beta].map((b) => f32(b, 'batchNormEval').ptr);
      if (n > 0) k(BATCH_NORM, `batch_norm_eval_${sameFloat('batchNormEval', x, y)}`).launch(grid(n), 256, 0, [buf(x).ptr, ...stats, buf(y).ptr, n, p.c, p.hw, p.eps, p.relu ? 1 : 0], () => `batchNormEval of [${p.n}, ${p.c}, ${p.hw}]`);
    },
    resizeBilinear: (x, y, p: ResizeParams) => {
      const n = p.planes * p.hOut * p.wOut;
      if (n > 0) k(BILINEAR, `resize_bilinear_${sameFloat('resizeBilinear', x, y)}`).launch(grid(n), 256, 0, [buf(x).ptr, buf(y).ptr, p.planes, p.h, p.w, p.hOut, p.wOut], () => `bilinear resize of ${p.planes} planes ${p.h}x${p.w} to ${p.hOut}x${p.wOut}`);
    },

    randomUniform: (out, n, key, counter) => philox(out, n, key, counter, false),
    randomNormal: (out, n, key, counter) => philox(out, n, key, counter, true),
    dropout: (x, out, n, p, key, counter) => {
      if (n === 0) return;
      const s = sameFloat('dropout', x, out);
      const at = core.capture?.philoxCounter(key, counter);
      const blocks = grid(Math.ceil(n / 4));
      if (at) k(RANDOM, `dropout_at_${s}`).launch(blocks, 256, 0, [buf(x).ptr, buf(out).ptr, n, key[0] >>> 0, key[1] >>> 0, at.base, at.delta, p, 1 / (1 - p)]);
      else k(RANDOM, `dropout_${s}`).launch(blocks, 256, 0, [buf(x).ptr, buf(out).ptr, n, key[0] >>> 0, key[1] >>> 0, counter, p, 1 / (1 - p)]);
    },

    adamMany: (tensors, p) => adamMany(launcher, tensors, p),
    emaMany: (pairs, beta) => emaMany(launcher, pairs, beta),
    nanToNumMany: (tensors, posinf, found) => nanToNumMany(launcher, tensors, posinf, found),
    sumSquaresMany: (tensors, out) => sumSquaresMany(launcher, tensors, out),
    scaleMany: (tensors, scale) => scaleMany(launcher, tensors, scale),
    synchronize: () => {
      core.refuseWhileCapturing('synchronize()');
      ctx.synchronize();
    },
    captureGraph: (fn, philox) => captureGraph(core, fn, philox),
    allocGraphInput: (dtype, length) => allocator.allocShared(length * bytesPerElement(dtype), dtype, length),

    memoryStats: () => allocator.snapshot(),
    resetPeakMemory: () => allocator.resetPeak(),
    emptyCache: () => allocator.emptyCache(),
    timeMs: (fn) => timeMs(ctx, fn),
  };

  function philox(out: DeviceBuffer, n: number, key: readonly [number, number], counter: number, normal: boolean): void {
    if (n === 0) return;
    const blocks = grid(Math.ceil(n / 4));
    const at = core.capture?.philoxCounter(key, counter);
    if (at) k(RANDOM, 'philox_fill_at').launch(blocks, 256, 0, [f32(out, 'random').ptr, n, key[0] >>> 0, key[1] >>> 0, at.base, at.delta, normal ? 1 : 0]);
    else k(RANDOM, 'philox_fill').launch(blocks, 256, 0, [f32(out, 'random').ptr, n, key[0] >>> 0, key[1] >>> 0, counter, normal ? 1 : 0]);
  }

  return backend;
}

/**
 * A permute that is a batch of matrix transposes, x [batch, rows, cols] to [batch, cols, rows] (NCHW <->
 * NHWC, a filter to KRSC), from its merged output dims and their input strides; null for any other
 * permute or a grid the tiled kernel cannot launch.
 */
function batchedTranspose(dims: readonly number[], strides: readonly number[]): { batch: number; rows: number; cols: number } | null {
  const [batch, cols, rows] = dims.length === 3 ? dims : dims.length === 2 ? [1, ...dims] : [0, 0, 0];
  const expected = dims.length === 3 ? [rows * cols, 1, cols] : [1, cols];
  if (batch === 0 || strides.some((s, i) => s !== expected[i])) return null;
  return Math.ceil(rows / 32) <= 65535 && batch <= 65535 ? { batch, rows, cols } : null;
}
