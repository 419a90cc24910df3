import type { Backend, DeviceBuffer } from '../backend/backend.js';
import { type DType, type HostArray, allocHost } from '../base/dtype.js';
import { type Shape, formatShape, numel } from '../base/shape.js';
import { type Disposable, getBackend, track } from './engine.js';
import type { GradNode } from './autograd.js';

/** A backend buffer shared by every tensor that views it (reshape shares storage); freed with its last view. */
export class Storage {
  private refs = 1;
  constructor(
    readonly backend: Backend,
    readonly buffer: DeviceBuffer,
    readonly dtype: DType,
    readonly length: number,
  ) {}
  retain(): this {
    this.refs++;
    return this;
  }
  release(): void {
    if (--this.refs === 0) this.backend.free(this.buffer);
  }
}

let nextId = 0;

export class Tensor implements Disposable {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly size: number;
  /** Known after dispose too: the tape casts an input's gradient to it. */
  readonly dtype: DType;
  requiresGrad = false;
  grad: Tensor | null = null;
  node: GradNode | null = null;
  memoryScope: Disposable['memoryScope'] = null;
  private storageRef: Storage | null;

  /** `scoped`: false for a tensor that an owner outside every memory scope holds from birth (a tape node's saved view). */
  constructor(storage: Storage, shape: Shape, scoped = true) {
    // A copy (callers reuse their arrays), not frozen: frozen arrays have their own elements kind, and every
    // shape helper that saw both kinds went polymorphic (about 1 ms of a quickstart step's 3.7 ms of host
    // work on a backend that does nothing; the readonly type is the guard).
    this.shape = shape.slice();
    this.size = numel(shape);
    if (this.size > storage.length) throw new Error(`shape ${formatShape(shape)} exceeds its storage of ${storage.length} elements`);
    this.storageRef = storage;
    this.dtype = storage.dtype;
    if (scoped) track(this);
  }

  get storage(): Storage {
    if (!this.storageRef) throw new Error(`tensor #${this.id} ${formatShape(this.shape)} was used after dispose (keep() it or return it from tidy())`);
    return this.storageRef;
  }
  get buffer(): DeviceBuffer {
    return this.storage.buffer;
  }
  get backend(): Backend {
    return this.storage.backend;
  }
  get device(): string {
    return this.storage.backend.name;
  }
  get ndim(): number {
    return this.shape.length;
  }
  get isDisposed(): boolean {
    return this.storageRef === null;
  }

  /**
   * Frees this tensor's hold on its storage. Its tape node stays: backward still runs through a disposed
   * intermediate, on what the node saved.
   */
  dispose(): void {
    if (!this.storageRef) return;
    this.storageRef.release();
    this.storageRef = null;
    this.node?.release();
    if (this.grad) {
      this.grad.dispose();
      this.grad = null;
    }
  }

  /** Copies the values to the host (synchronous; waits for the device). */
  toArray(): HostArray {
    return this.backend.download(this.buffer, this.dtype, this.size);
  }

  toFloat32Array(): Float32Array {
    const a = this.toArray();
    if (a instanceof Float32Array) return a;
    if (this.dtype === 'bfloat16' || this.dtype === 'float16') {
      throw new Error(`toFloat32Array on a ${this.dtype} tensor: cast it to float32 first`);
    }
    return Float32Array.from(a);
  }

  item(): number {
    if (this.size !== 1) throw new Error(`item() needs a tensor of one element, got ${formatShape(this.shape)}`);
    return this.toArray()[0];
  }

  toString(): string {
    return `Tensor(${formatShape(this.shape)}, ${this.dtype}, ${this.device})`;
  }
}

/** A new uninitialised tensor. */
export function empty(shape: Shape, dtype: DType = 'float32', backend: Backend = getBackend()): Tensor {
  const n = numel(shape);
  return new Tensor(new Storage(backend, backend.alloc(dtype, n), dtype, n), shape);
}

/** A tensor holding `data` (copied to the backend). */
export function fromArray(data: HostArray | readonly number[], shape: Shape, dtype: DType = 'float32', backend: Backend = getBackend()): Tensor {
  const n = numel(shape);
  if (data.length !== n) throw new Error(`${data.length} values given for shape ${formatShape(shape)} (${n} elements)`);
  let host: HostArray;
  if (Array.isArray(data)) {
    host = allocHost(dtype, n);
    for (let i = 0; i < n; i++) host[i] = data[i];
  } else host = data as HostArray;
  const t = empty(shape, dtype, backend);
  backend.upload(t.buffer, host);
  return t;
}

export function full(shape: Shape, value: number, dtype: DType = 'float32', backend: Backend = getBackend()): Tensor {
  const t = empty(shape, dtype, backend);
  backend.fill(t.buffer, t.size, value);
  return t;
}

export function zeros(shape: Shape, dtype: DType = 'float32', backend: Backend = getBackend()): Tensor {
  return full(shape, 0, dtype, backend);
}

export function ones(shape: Shape, dtype: DType = 'float32', backend: Backend = getBackend()): Tensor {
  return full(shape, 1, dtype, backend);
}

export function scalar(value: number, backend: Backend = getBackend()): Tensor {
  return full([], value, 'float32', backend);
}

/** A view of t with another shape (shares storage; no copy). */
export function view(t: Tensor, shape: Shape): Tensor {
  return new Tensor(t.storage.retain(), shape);
}

/** A view of t that no memory scope frees: the caller owns it from the start (as if kept at once, without the scope lookups). */
export function ownedView(t: Tensor): Tensor {
  return new Tensor(t.storage.retain(), t.shape, false);
}
