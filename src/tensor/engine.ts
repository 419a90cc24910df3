/**
 * Global state of the tensor core: the default backend, gradient mode and memory scopes.
 * JavaScript's garbage collector does not see GPU memory, so tensors are freed deterministically:
 * `tidy(fn)` frees every tensor made inside it except those it returns or `keep`s.
 */
import type { Backend } from '../backend/backend.js';
import type { DType } from '../base/dtype.js';

/**
 * The tensors made in one `tidy` call, in creation order. An array with each tensor pointing back at the
 * scope that holds it, not a Set: a step makes some 1,500 tensors, and push plus a field write cost less
 * than hashing each one in and out (`keep` clears the field; `tidy` skips tensors no longer pointing at it).
 */
type MemoryScope = Disposable[];

/** What the engine needs of a tensor to manage its lifetime. */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  /** The open scope that frees it, or null: the engine's bookkeeping, set by track, keep and tidy only. */
  memoryScope: MemoryScope | null;
}

let defaultBackend: Backend | null = null;
let gradEnabled = true;
let autocast: DType | null = null;
const scopes: MemoryScope[] = [];

export function setBackend(backend: Backend): void {
  defaultBackend = backend;
}

export function getBackend(): Backend {
  if (!defaultBackend) throw new Error('no backend selected: call setBackend(cpuBackend()) or useDevice("cpu"|"cuda") first');
  return defaultBackend;
}

export function hasBackend(): boolean {
  return defaultBackend !== null;
}

export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Runs fn without recording operations for autograd. */
export function noGrad<T>(fn: () => T): T {
  const prev = gradEnabled;
  gradEnabled = false;
  try {
    return fn();
  } finally {
    gradEnabled = prev;
  }
}

/**
 * Mixed precision as PyTorch's autocast: while set (to 'bfloat16'), conv2d and matmul (and so linear) cast
 * their operands to it on a backend that does matrix work in it (Backend.autocastDtypes) and return it, so
 * activations flow in bfloat16 from one to the next; the parameters, their gradients and the optimizer
 * state stay float32 (docs/design.md, "Mixed precision"). A no-op on other backends.
 */
export function setAutocast(dtype: DType | null): void {
  autocast = dtype;
}

/** The autocast dtype in force on `backend`, or null. */
export function autocastDtype(backend: Backend): DType | null {
  return autocast && backend.autocastDtypes?.includes(autocast) ? autocast : null;
}

/** Runs fn with autocast set to `dtype` (null: off). */
export function withAutocast<T>(dtype: DType | null, fn: () => T): T {
  const prev = autocast;
  autocast = dtype;
  try {
    return fn();
  } finally {
    autocast = prev;
  }
}

export function track(t: Disposable): void {
  const scope = scopes.length > 0 ? scopes[scopes.length - 1] : null;
  scope?.push(t);
  t.memoryScope = scope;
}

/** Removes t from every open scope so it outlives them; the caller now owns it. */
export function keep<T extends Disposable>(t: T): T {
  // Usually kept as it is made: then its scope lets go of it now, not when it closes (a long scope that
  // keeps a tensor per iteration would otherwise hold every one of them).
  const scope = t.memoryScope;
  if (scope && scope[scope.length - 1] === t) scope.pop();
  t.memoryScope = null;
  return t;
}

/** The mark of a tensor that a returning scope hands to the one around it; no tensor is ever in it. */
const survivor: MemoryScope = [];

/** Marks the tensors of `scope` found in `value` (a tensor, or arrays / plain objects holding them) as survivors. */
function markSurvivors(value: unknown, scope: MemoryScope, depth = 0): void {
  if (value === null || value === undefined || depth > 3) return;
  if (typeof value === 'object' && 'dispose' in (value as object) && 'isDisposed' in (value as object)) {
    const t = value as Disposable;
    if (t.memoryScope === scope) t.memoryScope = survivor;
    return;
  }
  if (Array.isArray(value)) for (const v of value) markSurvivors(v, scope, depth + 1);
  else if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as Record<string, unknown>)) markSurvivors(v, scope, depth + 1);
  }
}

/**
 * Runs fn in a memory scope: tensors created inside are disposed when it returns, except the ones in its
 * result (a tensor, or arrays / plain objects holding tensors), which move to the enclosing scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope: MemoryScope = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const t of scope) if (t.memoryScope === scope && !t.isDisposed) t.dispose();
    throw e;
  }
  scopes.pop();
  markSurvivors(result, scope);
  // In creation order (the enclosing scope's order too): survivors join it, the rest are freed.
  for (const t of scope) {
    if (t.memoryScope === survivor) track(t);
    else if (t.memoryScope === scope) {
      t.memoryScope = null;
      if (!t.isDisposed) t.dispose();
    }
  }
  return result;
}
