/**
 * One GPU, its primary context and the one stream everything is queued on; kernel modules compiled by
 * NVRTC and loaded once; launches with their argument block written in place.
 *
 * Launch arguments: cuLaunchKernel takes an array of pointers, one per kernel parameter. Each kernel gets
 * one native block of 8-byte-aligned slots and the pointer array into it, both allocated once, so a launch
 * writes its values into the block and makes one FFI call (no allocation per launch).
 */
import { CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, type Driver, type Handle, check, deviceAttribute, loadDriver } from './driver.js';
import { compile } from './nvrtc.js';

/** Kernel parameter kinds: device pointer, 32/64-bit integers, floats, or a by-value struct of `bytes`. */
export type ArgKind = 'ptr' | 'i32' | 'u32' | 'i64' | 'u64' | 'f32' | 'f64' | { bytes: number };
export type ArgValue = number | Uint8Array;

export interface KernelModule {
  /** File name for messages, e.g. "elementwise.cu". */
  name: string;
  source: string;
  /** Parameter kinds of each `extern "C" __global__` function in the source. */
  kernels: Record<string, readonly ArgKind[]>;
}

export class Kernel {
  private readonly view: DataView;
  private readonly bytes: Uint8Array;
  private readonly params: unknown;
  private readonly offsets: number[] = [];
  private readonly sync: boolean;

  constructor(
    private readonly ctx: CudaContext,
    private readonly fn: Handle,
    readonly name: string,
    private readonly kinds: readonly ArgKind[],
  ) {
    const k = ctx.d.k;
    let size = 0;
    for (const kind of kinds) {
      this.offsets.push(size);
      size += typeof kind === 'object' ? Math.ceil(kind.bytes / 8) * 8 : 8;
    }
    const block = k.alloc('uint8_t', Math.max(size, 8));
    const base = k.address(block);
    const ptrs = k.alloc('uint64_t', Math.max(kinds.length, 1));
    const ptrView = new DataView(k.view(ptrs, Math.max(kinds.length, 1) * 8));
    this.offsets.forEach((o, i) => ptrView.setBigUint64(i * 8, base + BigInt(o), true));
    const buffer = k.view(block, Math.max(size, 8));
    this.view = new DataView(buffer);
    this.bytes = new Uint8Array(buffer);
    this.params = ptrs;
    this.sync = process.env.STAGEDIFF_CUDA_SYNC === '1';
  }

  /** Queues the kernel on the stream; `what` (shapes, sizes) goes into any error message. */
  launch(grid: number | readonly [number, number, number], block: number | readonly [number, number, number], smem: number, args: readonly ArgValue[], what?: () => string): void {
    if (args.length !== this.kinds.length) throw new Error(`kernel ${this.name}: ${args.length} arguments for ${this.kinds.length} parameters`);
    const v = this.view;
    for (let i = 0; i < args.length; i++) {
      const kind = this.kinds[i];
      const o = this.offsets[i];
      const a = args[i];
      if (typeof kind === 'object') this.bytes.set(a as Uint8Array, o);
      else if (kind === 'ptr' || kind === 'u64' || kind === 'i64') v.setBigInt64(o, BigInt(a as number), true);
      else if (kind === 'i32') v.setInt32(o, a as number, true);
      else if (kind === 'u32') v.setUint32(o, a as number, true);
      else if (kind === 'f32') v.setFloat32(o, a as number, true);
      else v.setFloat64(o, a as number, true);
    }
    const [gx, gy, gz] = typeof grid === 'number' ? [grid, 1, 1] : grid;
    const [bx, by, bz] = typeof block === 'number' ? [block, 1, 1] : block;
    const d = this.ctx.d;
    const status = d.cuLaunchKernel(this.fn, gx, gy, gz, bx, by, bz, smem, this.ctx.stream, this.params, null);
    if (status !== 0) check(d, status, `cuLaunchKernel(${this.name}, grid ${gx}x${gy}x${gz}, block ${bx}x${by}x${bz}, smem ${smem})${what ? ` for ${what()}` : ''}`);
    if (this.sync) {
      const s = d.cuStreamSynchronize(this.ctx.stream);
      if (s !== 0) check(d, s, `kernel ${this.name}${what ? ` for ${what()}` : ''}`);
    }
  }

  /** Allows more than 48 KiB of dynamic shared memory. */
  setMaxDynamicSharedMemory(bytes: number): void {
    check(this.ctx.d, this.ctx.d.cuFuncSetAttribute(this.fn, CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES, bytes), `cuFuncSetAttribute(${this.name}, max dynamic shared memory ${bytes})`);
  }
}

export class CudaContext {
  readonly d: Driver;
  readonly device: number;
  readonly deviceName: string;
  readonly arch: number;
  readonly multiprocessors: number;
  readonly maxSharedOptin: number;
  readonly stream: Handle;
  private readonly modules = new Map<string, Map<string, Kernel>>();

  constructor(ordinal = 0) {
    const d = (this.d = loadDriver());
    check(d, d.cuInit(0), 'cuInit');
    const dev = [0];
    check(d, d.cuDeviceGet(dev, ordinal), `cuDeviceGet(${ordinal})`);
    this.device = dev[0];
    const name = Buffer.alloc(256);
    check(d, d.cuDeviceGetName(name, 256, this.device), 'cuDeviceGetName');
    this.deviceName = name.toString('utf8').replace(/\0.*$/s, '');
    const attr = (a: Parameters<typeof deviceAttribute>[1]): number => deviceAttribute(d, a, this.device);
    this.arch = attr('computeCapabilityMajor') * 10 + attr('computeCapabilityMinor');
    this.multiprocessors = attr('multiprocessorCount');
    this.maxSharedOptin = attr('maxSharedMemoryPerBlockOptin');
    const ctx: unknown[] = [null];
    check(d, d.cuDevicePrimaryCtxRetain(ctx, this.device), 'cuDevicePrimaryCtxRetain');
    check(d, d.cuCtxSetCurrent(ctx[0]), 'cuCtxSetCurrent');
    const stream: unknown[] = [null];
    // CU_STREAM_NON_BLOCKING: no implicit ordering with the legacy default stream, which nothing here uses.
    check(d, d.cuStreamCreate(stream, 1), 'cuStreamCreate');
    this.stream = stream[0];
  }

  /** The kernel `fn` of module `m`, compiling and loading the module on first use. */
  kernel(m: KernelModule, fn: string): Kernel {
    let fns = this.modules.get(m.name);
    if (!fns) {
      const cubin = compile(m.source, m.name, this.arch);
      const mod: unknown[] = [null];
      check(this.d, this.d.cuModuleLoadData(mod, cubin), `cuModuleLoadData(${m.name})`);
      fns = new Map();
      for (const [kname, kinds] of Object.entries(m.kernels)) {
        const f: unknown[] = [null];
        check(this.d, this.d.cuModuleGetFunction(f, mod[0], kname), `cuModuleGetFunction(${m.name}: ${kname})`);
        fns.set(kname, new Kernel(this, f[0], kname, kinds));
      }
      this.modules.set(m.name, fns);
    }
    const k = fns.get(fn);
    if (!k) throw new Error(`kernel ${fn} is not declared in ${m.name}`);
    return k;
  }

  synchronize(what = 'cuStreamSynchronize'): void {
    check(this.d, this.d.cuStreamSynchronize(this.stream), what);
  }
}
