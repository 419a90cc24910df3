/**
 * The CUDA backend: every kernel of the Backend interface on one NVIDIA GPU, through the driver API, NVRTC
 * (our fused kernels, kernels/*.ts), cuBLASLt (matmul.ts) and cuDNN (conv.ts), all reached through koffi.
 * Work is queued on one stream; only downloads and synchronize() wait for it.
 *
 * Importing this module loads nothing: probeCuda() says what is there and what is missing, and
 * cudaBackend() opens the libraries on first call (and throws the probe's findings if they are missing).
 */
import type { AdamParams, AttentionParams, Backend, BatchNormParams, BinaryOp, Conv2dParams, DeviceBuffer, GroupNormParams, MatmulParams, Pool2dParams, ResampleParams, ResizeParams, StridedOperand, UnaryOp } from '../backend.js';
import { type DType, type HostArray, allocHost, bytesPerElement } from '../../base/dtype.js';
import { stridesOf } from '../../base/shape.js';
import { cast as cpuCast } from '../cpu/layout.js';
import { SONAMES, type LibraryName, koffiLoadError, openLibrary } from './libs.js';
import { check, loadDriver } from './driver.js';
import { loadNvrtc } from './nvrtc.js';
import { CudaContext } from './context.js';
import { type AllocatorStats, CachingAllocator, CudaBuffer } from './allocator.js';
import { Matmul, type MathMode } from './matmul.js';
import { Conv } from './conv.js';
import { BINARY_CODES, DTYPE_CODES, ELEMENTWISE, MAX_DIMS, BCAST_BYTES, UNARY_CODES } from './kernels/elementwise.js';
import { type FloatSuffix, floatSuffix } from './kernels/common.js';
import { LAYOUT, MAX_PERM_DIMS, MAX_RED_DIMS, PERM_BYTES, RED_BYTES } from './kernels/layout.js';
import { RANDOM } from './kernels/random.js';
import { ADAM } from './kernels/adam.js';
import { GROUP_NORM } from './kernels/groupnorm.js';
import { SOFTMAX } from './kernels/softmax.js';
import { FIR_BYTES, MAX_TAPS, RESAMPLE } from './kernels/resample.js';
import { POOL2D } from './kernels/pool2d.js';
import { BATCH_NORM } from './kernels/batchnorm.js';
import { BILINEAR } from './kernels/bilinear.js';
import { PinnedBuffer } from './pinned.js';

export { PinnedBuffer } from './pinned.js';
export type { AllocatorStats } from './allocator.js';
export type { MathMode } from './matmul.js';

export interface CudaProbe {
  available: boolean;
  device?: string;
  /** e.g. "9.0" */
  computeCapability?: string;
  memoryBytes?: number;
  driverVersion?: string;
  nvrtcVersion?: string;
  cudnnVersion?: string;
  /** Where each library was found. */
  libraries: Partial<Record<LibraryName, string>>;
  /** One line per missing piece, saying what and how to fix it; empty when available. */
  missing: string[];
}

/** Checks for a usable GPU and libraries without initialising the backend. Never throws. */
export function probeCuda(): CudaProbe {
  const probe: CudaProbe = { available: false, libraries: {}, missing: [] };
  const ffi = koffiLoadError();
  if (ffi) {
    probe.missing.push(ffi);
    return probe;
  }
  for (const name of Object.keys(SONAMES) as LibraryName[]) {
    try {
      probe.libraries[name] = openLibrary(name).path;
    } catch (e) {
      probe.missing.push(`${name}: ${(e as Error).message}`);
    }
  }
  if (probe.libraries.cuda) {
    try {
      const d = loadDriver();
      check(d, d.cuInit(0), 'cuInit');
      const v = [0];
      d.cuDriverGetVersion(v);
      probe.driverVersion = `${Math.floor(v[0] / 1000)}.${(v[0] % 1000) / 10}`;
      const count = [0];
      check(d, d.cuDeviceGetCount(count), 'cuDeviceGetCount');
      if (count[0] === 0) probe.missing.push('no CUDA device is visible (check CUDA_VISIBLE_DEVICES and the driver)');
      else {
        const name = Buffer.alloc(256);
        check(d, d.cuDeviceGetName(name, 256, 0), 'cuDeviceGetName');
        probe.device = name.toString('utf8').replace(/\0.*$/s, '');
        const major = [0];
        const minor = [0];
        d.cuDeviceGetAttribute(major, 75, 0);
        d.cuDeviceGetAttribute(minor, 76, 0);
        probe.computeCapability = `${major[0]}.${minor[0]}`;
        const mem = [0];
        d.cuDeviceTotalMem(mem, 0);
        probe.memoryBytes = mem[0];
      }
    } catch (e) {
      probe.missing.push(`CUDA driver: ${(e as Error).message}`);
    }
  }
  if (probe.libraries.nvrtc) {
    try {
      probe.nvrtcVersion = loadNvrtc().version;
    } catch (e) {
      probe.missing.push(`nvrtc: ${(e as Error).message}`);
    }
  }
  if (probe.libraries.cudnn) {
    try {
      const v = Number((openLibrary('cudnn').lib.func('size_t cudnnGetVersion()') as () => number)());
      probe.cudnnVersion = `${Math.floor(v / 10000)}.${Math.floor((v % 10000) / 100)}.${v % 100}`;
    } catch (e) {
      probe.missing.push(`cudnn: ${(e as Error).message}`);
    }
  }
  probe.available = probe.missing.length === 0;
  return probe;
}

export interface CudaOptions {
  /**
   * Math of float32 matrix work (matmul, conv, attention): 'fp32' is true fp32 (compares with the CPU to
   * 1e-5), 'tf32' lets tensor cores round inputs to TF32 (about 1e-3). bfloat16 operands always accumulate
   * in fp32. Default 'fp32'.
   */
  math?: MathMode;
}

/** The CUDA backend plus what only a GPU has: memory statistics, pinned buffers, a fused Adam. */
export interface CudaBackend extends Backend {
  readonly name: 'cuda';
  readonly device: string;
  readonly math: MathMode;
  memoryStats(): AllocatorStats;
  resetPeakMemory(): void;
  /** Returns cached free blocks to the driver. */
  emptyCache(): void;
  /** Page-locked host memory for fast, asynchronous uploads (data loading). */
  pinned(bytes: number): PinnedBuffer;
  /** Queues a copy from pinned memory; the pinned buffer must not be rewritten before pinned.wait(). */
  uploadPinned(buf: DeviceBuffer, src: PinnedBuffer, bytes: number): void;
  /** One launch updating every parameter tensor (same formula as adam()). */
  adamMany(tensors: readonly { param: DeviceBuffer; grad: DeviceBuffer; m: DeviceBuffer; v: DeviceBuffer; length: number }[], p: AdamParams): void;
  /** Milliseconds of GPU time taken by the work fn queues (synchronises). */
  timeMs(fn: () => void): number;
}

/** The state every math mode shares: one context, stream and allocator, so buffers are interchangeable. */
class Core {
  readonly ctx = new CudaContext(0);
  readonly allocator = new CachingAllocator(this.ctx);
  readonly blocksCap = this.ctx.multiprocessors * 32;
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
  const b = create(core, math);
  instances.set(math, b);
  return b;
}

function buf(b: DeviceBuffer): CudaBuffer {
  const c = b as CudaBuffer;
  if (!(c instanceof CudaBuffer)) throw new Error('a buffer of another backend was passed to the CUDA backend');
  if (c.freed) throw new Error(`use of a freed GPU buffer (${c.dtype}, ${c.length} elements)`);
  return c;
}

function f32(b: DeviceBuffer, what: string): CudaBuffer {
  const c = buf(b);
  if (c.dtype !== 'float32') throw new Error(`${what} expects float32 buffers, got ${c.dtype}`);
  return c;
}

/** A float32 or bfloat16 buffer and the suffix of the kernels instantiated for its type. */
function fl(b: DeviceBuffer, what: string): { ptr: number; s: FloatSuffix } {
  const c = buf(b);
  return { ptr: c.ptr, s: floatSuffix(c.dtype, what) };
}

/** One storage type for all of an op's tensors: its kernel suffix. */
function sameFloat(what: string, ...bs: DeviceBuffer[]): FloatSuffix {
  const types = bs.map((b) => fl(b, what).s);
  if (types.some((t) => t !== types[0])) throw new Error(`${what}: tensors of one dtype expected, got ${bs.map((b) => buf(b).dtype).join(', ')}`);
  return types[0];
}

/** Writes an int32 count followed by int64 arrays (padded to `dims` each): the layout of the kernels' structs. */
function packStruct(bytes: number, ints: readonly number[], arrays: readonly (readonly number[])[], dims: number): Uint8Array {
  const out = new Uint8Array(bytes);
  const v = new DataView(out.buffer);
  ints.forEach((x, i) => v.setInt32(i * 4, x, true));
  arrays.forEach((arr, a) => arr.forEach((x, i) => v.setBigInt64(8 + (a * dims + i) * 8, BigInt(x), true)));
  return out;
}

/**
 * Merges output dims where every operand steps through them as one (contiguous together), and drops
 * size-1 dims: [N, C, H, W] with a [1, C, 1, 1] operand becomes [N, C, H*W].
 */
function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): { dims: number[]; strides: number[][] } {
  const dims: number[] = [];
  const out: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = dims.length - 1;
    if (last >= 0 && strides.every((s, k) => out[k][last] === s[d] * shape[d])) {
      dims[last] *= shape[d];
      strides.forEach((s, k) => (out[k][last] = s[d]));
    } else {
      dims.push(shape[d]);
      strides.forEach((s, k) => out[k].push(s[d]));
    }
  }
  return { dims, strides: out };
}

function create(core: Core, math: MathMode): CudaBackend {
  const { ctx, allocator } = core;
  const d = ctx.d;
  const matmul = new Matmul(ctx, allocator, math);
  let convImpl: Conv | null = null;
  // cuDNN loads (and initialises) on the first convolution only.
  const conv = (): Conv => (convImpl ??= new Conv(ctx, allocator, math));
  const k = (m: Parameters<CudaContext['kernel']>[0], name: string) => ctx.kernel(m, name);
  // Blocks for n threads' work (the dense elementwise kernels take 8 elements a thread: grid(n / 8)).
  const grid = (n: number, block = 256): number => Math.max(1, Math.min(Math.ceil(n / block), core.blocksCap));

  const uploadIndex = (index: Int32Array): CudaBuffer => {
    const b = allocator.alloc(index.byteLength, 'int32', index.length);
    if (index.byteLength > 0) check(d, d.cuMemcpyHtoDAsync(b.ptr, index, index.byteLength, ctx.stream), 'cuMemcpyHtoDAsync (row index)');
    return b;
  };

  const reduce = (isMax: boolean, xb: DeviceBuffer, inShape: readonly number[], ob: DeviceBuffer, outShape: readonly number[]): void => {
    const x = fl(xb, 'reduce');
    const out = fl(ob, 'reduce');
    // Sums whose innermost axes are reduced start with contiguous row sums (coalesced, vectorised); the
    // rest of the reduction, if any, runs on those float32 partial sums.
    let inner = 1;
    let firstInner = inShape.length;
    while (firstInner > 0 && (inShape[firstInner - 1] === 1 || outShape[firstInner - 1] === 1)) inner *= inShape[--firstInner];
    const rows = inShape.reduce((a, b) => a * b, 1) / inner;
    if (!isMax && inner > 1 && inner < 2 ** 31 && rows >= core.ctx.multiprocessors * 4) {
      const rest = [...inShape.slice(0, firstInner), ...inShape.slice(firstInner).map(() => 1)];
      const done = rest.every((d, a) => d === outShape[a]);
      const partial = done ? null : allocator.alloc(rows * 4, 'float32', rows);
      k(LAYOUT, `row_sum_${x.s}_${partial ? 'f32' : out.s}`).launch(grid(rows * 32), 256, 0, [x.ptr, partial ? partial.ptr : out.ptr, rows, inner]);
      if (partial) {
        reduce(false, partial, rest, ob, outShape);
        allocator.release(partial);
      }
      return;
    }
    const types = `${x.s}_${out.s}`;
    const inStrides = stridesOf(inShape);
    const kept: number[][] = [[], []];
    const red: number[][] = [[], []];
    // Consecutive axes of the same kind merge (the input is dense, so they step as one).
    let lastKind: 'k' | 'r' | null = null;
    for (let a = 0; a < inShape.length; a++) {
      if (inShape[a] === 1) continue;
      const kind = outShape[a] === 1 ? 'r' : 'k';
      const [dims, strides] = kind === 'k' ? kept : red;
      if (kind === lastKind) {
        dims[dims.length - 1] *= inShape[a];
        strides[strides.length - 1] = inStrides[a];
      } else {
        dims.push(inShape[a]);
        strides.push(inStrides[a]);
      }
      lastKind = kind;
    }
    if (kept[0].length > MAX_RED_DIMS || red[0].length > MAX_RED_DIMS) throw new Error(`reduce of ${JSON.stringify(inShape)} to ${JSON.stringify(outShape)}: more than ${MAX_RED_DIMS} alternating axis groups`);
    const nOut = kept[0].reduce((a, b) => a * b, 1);
    const nRed = red[0].reduce((a, b) => a * b, 1);
    const s = new Uint8Array(RED_BYTES);
    const v = new DataView(s.buffer);
    v.setInt32(0, kept[0].length, true);
    v.setInt32(4, red[0].length, true);
    const put = (arr: number[], slot: number) => arr.forEach((x, i) => v.setBigInt64(8 + (slot * MAX_RED_DIMS + i) * 8, BigInt(x), true));
    put(kept[0], 0);
    put(kept[1], 1);
    put(red[0], 2);
    put(red[1], 3);
    const what = () => `${isMax ? 'max' : 'sum'} of ${JSON.stringify(inShape)} to ${JSON.stringify(outShape)}`;
    const sms = core.ctx.multiprocessors;
    if (nOut < sms * 4 && nRed >= 2048 && nRed < 2 ** 31) {
      // about 8 blocks per multiprocessor, each slice at least 1024 elements long
      const slices = Math.min(Math.ceil(nRed / 1024), Math.ceil((sms * 8) / nOut), 65535);
      const part = allocator.alloc(nOut * slices * 8, 'uint8', nOut * slices * 8);
      k(LAYOUT, `reduce_partial_${types}`).launch([Math.min(nOut, 65535), slices, 1], 256, 0, [x.ptr, part.ptr, nOut, nRed, isMax ? 1 : 0, s], what);
      k(LAYOUT, `reduce_finish_${types}`).launch(grid(nOut), 256, 0, [part.ptr, out.ptr, nOut, slices, isMax ? 1 : 0], what);
      allocator.release(part);
    } else if (nRed >= 256 || nOut < sms * 4) k(LAYOUT, `reduce_block_${types}`).launch(Math.min(nOut, 65535 * 4), 256, 0, [x.ptr, out.ptr, nOut, nRed, isMax ? 1 : 0, s], what);
    else k(LAYOUT, `reduce_thread_${types}`).launch(grid(nOut), 256, 0, [x.ptr, out.ptr, nOut, nRed, isMax ? 1 : 0, s], what);
  };

  const rowKernel = (base: string, dtype: DType): string => `${base}_${bytesPerElement(dtype)}`;

  const backend: CudaBackend = {
    name: 'cuda',
    autocastDtypes: ['bfloat16'],
    device: ctx.deviceName,
    math,

    alloc: (dtype, length) => allocator.alloc(length * bytesPerElement(dtype), dtype, length),
    free: (b) => allocator.release(buf(b)),
    upload: (b, data) => {
      const c = buf(b);
      if (data.byteLength > c.byteLength) throw new Error(`upload of ${data.byteLength} bytes into a GPU buffer of ${c.byteLength}`);
      if (data.byteLength > 0) check(d, d.cuMemcpyHtoDAsync(c.ptr, data, data.byteLength, ctx.stream), `cuMemcpyHtoDAsync (${data.byteLength} bytes)`);
    },
    download: (b, dtype, length): HostArray => {
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
      const s = packStruct(BCAST_BYTES, [c.dims.length], [c.dims, c.strides[0], c.strides[1]], MAX_DIMS);
      k(ELEMENTWISE, `binary_${types}`).launch(grid(n), 256, 0, [A.ptr, B.ptr, out.ptr, n, BINARY_CODES[op], s], () => `${op} over ${JSON.stringify(shape)}`);
    },
    reduceSum: (x, inShape, out, outShape) => reduce(false, x, inShape, out, outShape),
    reduceMax: (x, inShape, out, outShape) => reduce(true, x, inShape, out, outShape),
    permute: (xb, inShape, perm, ob) => {
      const x = buf(xb);
      const out = buf(ob);
      const n = inShape.reduce((a, b) => a * b, 1);
      if (n === 0) return;
      const inStrides = stridesOf(inShape);
      const c = collapse(perm.map((p) => inShape[p]), [perm.map((p) => inStrides[p]), stridesOf(perm.map((p) => inShape[p]))]);
      if (c.dims.length > MAX_PERM_DIMS) throw new Error(`permute of ${JSON.stringify(inShape)}: more than ${MAX_PERM_DIMS} dims`);
      const s = packStruct(PERM_BYTES, [c.dims.length], [c.dims, c.strides[0]], MAX_PERM_DIMS);
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
      const what = () => `groupNorm${p.silu ? '+SiLU' : ''} of [${p.n}, ${p.c}, ${p.hw}] in ${p.groups} groups`;
      const s = sameFloat('groupNorm', x, y);
      k(GROUP_NORM, `group_norm_forward_${s}`).launch(p.n * p.groups, 256, 0, [buf(x).ptr, f32(g, 'groupNorm').ptr, f32(b, 'groupNorm').ptr, buf(y).ptr, f32(mean, 'groupNorm').ptr, f32(rstd, 'groupNorm').ptr, p.c, p.hw, p.groups, p.eps, p.silu ? 1 : 0], what);
    },
    groupNormBackward: (x, g, b, mean, rstd, dy, dx, dg, db, p) => {
      const what = () => `groupNorm${p.silu ? '+SiLU' : ''} backward of [${p.n}, ${p.c}, ${p.hw}] in ${p.groups} groups`;
      const s = sameFloat('groupNorm backward', x, dy, dx);
      const sums = allocator.alloc(p.n * p.c * 2 * 4, 'float32', p.n * p.c * 2);
      const cpg = p.c / p.groups;
      k(GROUP_NORM, `group_norm_backward_${s}`).launch(p.n * p.groups, 256, cpg * 2 * 4, [buf(x).ptr, f32(g, 'groupNorm').ptr, f32(b, 'groupNorm').ptr, f32(mean, 'groupNorm').ptr, f32(rstd, 'groupNorm').ptr, buf(dy).ptr, buf(dx).ptr, sums.ptr, p.c, p.hw, p.groups, p.silu ? 1 : 0], what);
      k(GROUP_NORM, 'group_norm_param_grads').launch(grid(p.c), 256, 0, [sums.ptr, f32(dg, 'groupNorm').ptr, f32(db, 'groupNorm').ptr, p.n, p.c], what);
      allocator.release(sums);
    },

    attention: (qkvb, outb, wb, p: AttentionParams) => {
      const { b, c, l } = p;
      const qkv = f32(qkvb, 'attention');
      const w = f32(wb, 'attention');
      const e = 4;
      const part = (which: number) => qkv.ptr + which * l * e;
      // weights = softmax(q^T k / sqrt(C)): q, k read in place as [C, L] with row stride 3L
      matmul.gemm('float32', part(0), part(1), w.ptr, 'float32', { batch: b, m: l, n: l, k: c, transA: true, transB: false, alpha: 1 / Math.sqrt(c), beta: 0, strideA: 3 * c * l, strideB: 3 * c * l, strideC: l * l, lda: 3 * l, ldb: 3 * l, ldc: l });
      k(SOFTMAX, 'softmax_rows').launch(Math.ceil((b * l) / 8), 256, 0, [w.ptr, b * l, l]);
      // out = v @ weights^T
      matmul.gemm('float32', part(2), w.ptr, f32(outb, 'attention').ptr, 'float32', { batch: b, m: c, n: l, k: l, transA: false, transB: true, alpha: 1, beta: 0, strideA: 3 * c * l, strideB: l * l, strideC: c * l, lda: 3 * l, ldb: l, ldc: l });
    },
    attentionBackward: (qkvb, wb, doutb, dqkvb, p) => {
      const { b, c, l } = p;
      const qkv = f32(qkvb, 'attention');
      const w = f32(wb, 'attention');
      const dout = f32(doutb, 'attention');
      const dqkv = f32(dqkvb, 'attention');
      const e = 4;
      const part = (base: number, which: number) => base + which * l * e;
      const ds = allocator.alloc(b * l * l * e, 'float32', b * l * l);
      const scale = 1 / Math.sqrt(c);
      const sQkv = 3 * c * l;
      // dv = dout @ w
      matmul.gemm('float32', dout.ptr, w.ptr, part(dqkv.ptr, 2), 'float32', { batch: b, m: c, n: l, k: l, transA: false, transB: false, alpha: 1, beta: 0, strideA: c * l, strideB: l * l, strideC: sQkv, lda: l, ldb: l, ldc: 3 * l });
      // dw = dout^T @ v, then through the softmax
      matmul.gemm('float32', dout.ptr, part(qkv.ptr, 2), ds.ptr, 'float32', { batch: b, m: l, n: l, k: c, transA: true, transB: false, alpha: 1, beta: 0, strideA: c * l, strideB: sQkv, strideC: l * l, lda: l, ldb: 3 * l, ldc: l });
      k(SOFTMAX, 'softmax_rows_backward').launch(Math.ceil((b * l) / 8), 256, 0, [w.ptr, ds.ptr, b * l, l]);
      // dq = k @ ds^T / sqrt(C); dk = q @ ds / sqrt(C)
      matmul.gemm('float32', part(qkv.ptr, 1), ds.ptr, part(dqkv.ptr, 0), 'float32', { batch: b, m: c, n: l, k: l, transA: false, transB: true, alpha: scale, beta: 0, strideA: sQkv, strideB: l * l, strideC: sQkv, lda: 3 * l, ldb: l, ldc: 3 * l });
      matmul.gemm('float32', part(qkv.ptr, 0), ds.ptr, part(dqkv.ptr, 1), 'float32', { batch: b, m: c, n: l, k: l, transA: false, transB: false, alpha: scale, beta: 0, strideA: sQkv, strideB: l * l, strideC: sQkv, lda: 3 * l, ldb: l, ldc: 3 * l });
      allocator.release(ds);
    },

    resample: (x, y, p: ResampleParams) => fir(buf(x), p.h, p.w, buf(y), p.hOut, p.wOut, p.mode === 'up', p),
    resampleBackward: (dy, dx, p) => fir(buf(dy), p.hOut, p.wOut, buf(dx), p.h, p.w, p.mode === 'down', p),

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
      if (n > 0) k(RANDOM, `dropout_${sameFloat('dropout', x, out)}`).launch(grid(Math.ceil(n / 4)), 256, 0, [buf(x).ptr, buf(out).ptr, n, key[0] >>> 0, key[1] >>> 0, counter, p, 1 / (1 - p)]);
    },

    adam: (param, grad, m, v, n, p: AdamParams) => {
      if (n === 0) return;
      const s = adamScalars(p);
      k(ADAM, 'adam_f32').launch(grid(n), 256, 0, [f32(param, 'adam').ptr, f32(grad, 'adam').ptr, f32(m, 'adam').ptr, f32(v, 'adam').ptr, n, ...s]);
    },
    adamMany: (tensors, p) => {
      if (tensors.length === 0) return;
      // the table: (param, grad, m, v, length) records of 5 x 8 bytes
      const table = new BigInt64Array(tensors.length * 5);
      let longest = 0;
      tensors.forEach((t, i) => {
        table[i * 5] = BigInt(f32(t.param, 'adam').ptr);
        table[i * 5 + 1] = BigInt(f32(t.grad, 'adam').ptr);
        table[i * 5 + 2] = BigInt(f32(t.m, 'adam').ptr);
        table[i * 5 + 3] = BigInt(f32(t.v, 'adam').ptr);
        table[i * 5 + 4] = BigInt(t.length);
        longest = Math.max(longest, t.length);
      });
      const dev = allocator.alloc(table.byteLength, 'uint8', table.byteLength);
      check(d, d.cuMemcpyHtoDAsync(dev.ptr, table, table.byteLength, ctx.stream), 'cuMemcpyHtoDAsync (adam table)');
      const blocksPerTensor = Math.max(1, Math.min(Math.ceil(longest / 256), Math.ceil(core.blocksCap / tensors.length) * 4));
      k(ADAM, 'adam_multi_f32').launch([blocksPerTensor, tensors.length, 1], 256, 0, [dev.ptr, ...adamScalars(p)]);
      allocator.release(dev);
    },
    nanToNum: (x, n, posinf) => {
      if (n > 0) k(ELEMENTWISE, `nan_to_num_${fl(x, 'nanToNum').s}`).launch(grid(n), 256, 0, [buf(x).ptr, n, posinf]);
    },
    synchronize: () => ctx.synchronize(),

    memoryStats: () => allocator.snapshot(),
    resetPeakMemory: () => allocator.resetPeak(),
    emptyCache: () => allocator.emptyCache(),
    pinned: (bytes) => new PinnedBuffer(ctx, bytes),
    uploadPinned: (b, src, bytes) => {
      const c = buf(b);
      if (bytes > c.byteLength || bytes > src.byteLength) throw new Error(`pinned upload of ${bytes} bytes: buffer ${c.byteLength}, pinned ${src.byteLength}`);
      check(d, d.cuMemcpyHtoDAsync(c.ptr, src.pointer, bytes, ctx.stream), `cuMemcpyHtoDAsync (pinned, ${bytes} bytes)`);
      src.recordUse();
    },
    timeMs: (fn) => {
      const start: unknown[] = [null];
      const end: unknown[] = [null];
      check(d, d.cuEventCreate(start, 0), 'cuEventCreate');
      check(d, d.cuEventCreate(end, 0), 'cuEventCreate');
      check(d, d.cuEventRecord(start[0], ctx.stream), 'cuEventRecord');
      fn();
      check(d, d.cuEventRecord(end[0], ctx.stream), 'cuEventRecord');
      check(d, d.cuEventSynchronize(end[0]), 'cuEventSynchronize');
      const ms = [0];
      check(d, d.cuEventElapsedTime(ms, start[0], end[0]), 'cuEventElapsedTime');
      d.cuEventDestroy(start[0]);
      d.cuEventDestroy(end[0]);
      return ms[0];
    },
  };

  function fir(src: CudaBuffer, inH: number, inW: number, dst: CudaBuffer, outH: number, outW: number, expand: boolean, p: ResampleParams): void {
    if (p.taps.length > MAX_TAPS) throw new Error(`resample: at most ${MAX_TAPS} taps, got ${p.taps.length}`);
    const tapSum = p.taps.reduce((s, t) => s + t, 0);
    const s = new Uint8Array(FIR_BYTES);
    const v = new DataView(s.buffer);
    p.taps.forEach((t, i) => v.setFloat32(i * 4, t, true));
    v.setInt32(32, p.taps.length, true);
    v.setInt32(36, p.pad, true);
    v.setInt32(40, expand ? 1 : 0, true);
    v.setFloat32(44, (p.mode === 'up' ? 4 : 1) / (tapSum * tapSum), true);
    const planes = p.n * p.c;
    const n = planes * outH * outW;
    if (n > 0) k(RESAMPLE, `fir2d_${sameFloat('resample', src, dst)}`).launch(grid(n), 256, 0, [src.ptr, inH, inW, dst.ptr, outH, outW, planes, s], () => `resample ${p.mode} of [${p.n}, ${p.c}, ${p.h}, ${p.w}]`);
  }

  function philox(out: DeviceBuffer, n: number, key: readonly [number, number], counter: number, normal: boolean): void {
    if (n === 0) return;
    const blocks = Math.ceil(n / 4);
    k(RANDOM, 'philox_fill').launch(grid(blocks), 256, 0, [f32(out, 'random').ptr, n, key[0] >>> 0, key[1] >>> 0, counter, normal ? 1 : 0]);
  }

  return backend;
}

/** Adam's per-step scalars, computed in double on the host: beta1, beta2, step size, sqrt(bias correction 2), eps, decay. */
function adamScalars(p: AdamParams): number[] {
  const bc1 = 1 - Math.pow(p.beta1, p.step);
  const bc2Sqrt = Math.sqrt(1 - Math.pow(p.beta2, p.step));
  return [p.beta1, p.beta2, p.lr / bc1, bc2Sqrt, p.eps, 1 - p.lr * p.weightDecay];
}
