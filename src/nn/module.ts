/**
 * The base of every layer and network, shaped like torch.nn.Module so state dicts interchange by name:
 * a module owns parameters, buffers and child modules, each registered under a name, and the dotted path
 * of registrations (`enc.32x32_block0.conv0.weight`) is the tensor's name in a state dict. Order is
 * PyTorch's: a module's own parameters, then its own buffers, then its children's entries, in
 * registration order.
 */
import { keep, noGrad, tidy } from '../tensor/engine.js';
import { cast } from '../tensor/ops/index.js';
import { formatShape, sameShape } from '../base/shape.js';
import { type Tensor, fromArray } from '../tensor/tensor.js';
import { Parameter } from './parameter.js';
import type { HostTensor } from './safetensors.js';

interface BufferEntry {
  tensor: Tensor;
  /** Derived from constructor arguments (a resampling filter): loading checks it instead of overwriting it. */
  constant: boolean;
}

interface StateEntry {
  name: string;
  tensor: Tensor;
  constant: boolean;
}

/** What a non-strict load left out. */
export interface LoadResult {
  missing: string[];
  unexpected: string[];
}

export interface BufferOptions {
  constant?: boolean;
}

function listed(items: readonly string[], limit = 20): string {
  const shown = items.slice(0, limit).join(', ');
  return items.length > limit ? `${shown}, ... and ${items.length - limit} more` : shown;
}

export class Module {
  training = true;
  /**
   * The layout of the 4-D activations inside: [N, H, W, C] when true, else [N, C, H, W]. Parameters keep
   * their layout either way; a network's own input and output stay NCHW (see channelsLast in models/).
   */
  channelsLast = false;
  private readonly ownParameters = new Map<string, Parameter>();
  private readonly ownBuffers = new Map<string, BufferEntry>();
  private readonly ownChildren = new Map<string, Module>();

  private checkName(name: string): void {
    if (name === '' || name.includes('.')) throw new Error(`${this.constructor.name}: invalid name "${name}" (non-empty, no dots)`);
    if (this.ownParameters.has(name) || this.ownBuffers.has(name) || this.ownChildren.has(name)) {
      throw new Error(`${this.constructor.name}: "${name}" is already registered`);
    }
  }

  /** Registers `value` (taken over) as a trainable parameter. */
  protected registerParameter(name: string, value: Tensor): Parameter {
    this.checkName(name);
    const p = new Parameter(value);
    this.ownParameters.set(name, p);
    return p;
  }

  /** Registers a tensor that is saved with the module but not trained (kept out of memory scopes). */
  protected registerBuffer(name: string, value: Tensor, options: BufferOptions = {}): Tensor {
    this.checkName(name);
    this.ownBuffers.set(name, { tensor: keep(value), constant: options.constant ?? false });
    return value;
  }

  protected registerModule<M extends Module>(name: string, module: M): M {
    this.checkName(name);
    this.ownChildren.set(name, module);
    return module;
  }

  namedChildren(): [string, Module][] {
    return [...this.ownChildren];
  }

  /** This module ('' ) and every descendant, depth first in registration order, with dotted names. */
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.ownChildren) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name));
    return out;
  }

  private stateEntries(): StateEntry[] {
    const out: StateEntry[] = [];
    for (const [prefix, m] of this.namedModules()) {
      const full = (name: string): string => (prefix ? `${prefix}.${name}` : name);
      for (const [name, p] of m.ownParameters) out.push({ name: full(name), tensor: p, constant: false });
      for (const [name, b] of m.ownBuffers) out.push({ name: full(name), tensor: b.tensor, constant: b.constant });
    }
    return out;
  }

  namedParameters(): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [prefix, m] of this.namedModules()) for (const [name, p] of m.ownParameters) out.push([prefix ? `${prefix}.${name}` : name, p]);
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  namedBuffers(): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [prefix, m] of this.namedModules()) for (const [name, b] of m.ownBuffers) out.push([prefix ? `${prefix}.${name}` : name, b.tensor]);
    return out;
  }

  /** Every parameter and buffer by its dotted name, in PyTorch's state_dict order. The tensors are live, not copies. */
  stateDict(): Map<string, Tensor> {
    return new Map(this.stateEntries().map((e) => [e.name, e.tensor]));
  }

  /**
   * Copies values into the module's tensors (in place: optimizers and EMA keep their references). Strict
   * (the default): the names must match exactly. A wrong shape always fails. Nothing is written unless
   * everything checks out; the error names every offending tensor with its shapes.
   */
  loadStateDict(state: ReadonlyMap<string, HostTensor>, options: { strict?: boolean } = {}): LoadResult {
    const strict = options.strict ?? true;
    const entries = this.stateEntries();
    const own = new Set(entries.map((e) => e.name));
    const missing = entries.filter((e) => !state.has(e.name));
    const unexpected = [...state.keys()].filter((k) => !own.has(k));
    const wrongShape = entries.filter((e) => state.has(e.name) && !sameShape(state.get(e.name)!.shape, e.tensor.shape));
    const problems: string[] = [];
    if (strict && missing.length > 0) problems.push(`missing (the model has them, the state dict does not): ${listed(missing.map((e) => `${e.name} ${formatShape(e.tensor.shape)}`))}`);
    if (strict && unexpected.length > 0) problems.push(`unexpected (the state dict has them, the model does not): ${listed(unexpected.map((k) => `${k} ${formatShape(state.get(k)!.shape)}`))}`);
    if (wrongShape.length > 0) problems.push(`wrong shape: ${listed(wrongShape.map((e) => `${e.name}: state dict ${formatShape(state.get(e.name)!.shape)}, model ${formatShape(e.tensor.shape)}`))}`);
    for (const e of entries) {
      if (!e.constant || !state.has(e.name) || wrongShape.includes(e)) continue;
      const diff = maxDifference(e.tensor, state.get(e.name)!);
      if (diff > 1e-3) problems.push(`${e.name}: constant buffer differs from this model's by up to ${diff} (built with another option, such as resample_filter?)`);
    }
    if (problems.length > 0) throw new Error(`state dict does not match ${this.constructor.name}:\n  ${problems.join('\n  ')}`);
    for (const e of entries) if (!e.constant && state.has(e.name)) copyInto(e.tensor, state.get(e.name)!);
    return { missing: missing.map((e) => e.name), unexpected };
  }

  /** Sets training mode (dropout active) on this module and every descendant. */
  train(mode = true): this {
    for (const [, m] of this.namedModules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Sets the activation layout (channels last or NCHW) of this module and every descendant. */
  setChannelsLast(on = true): this {
    for (const [, m] of this.namedModules()) m.channelsLast = on;
    return this;
  }

  /** Frees every parameter and buffer of this module and its descendants. */
  dispose(): void {
    for (const e of this.stateEntries()) e.tensor.dispose();
  }
}

function copyInto(target: Tensor, source: HostTensor): void {
  if (source.dtype === target.dtype) {
    target.backend.upload(target.buffer, source.data);
    return;
  }
  noGrad(() =>
    tidy(() => {
      const converted = cast(fromArray(source.data, source.shape, source.dtype, target.backend), target.dtype);
      target.backend.copyRows(converted.buffer, 0, 0, target.buffer, 0, 0, 1, target.size);
    }),
  );
}

function maxDifference(t: Tensor, h: HostTensor): number {
  const a = noGrad(() => tidy(() => cast(t, 'float32').toFloat32Array()));
  const b = noGrad(() => tidy(() => cast(fromArray(h.data, h.shape, h.dtype, t.backend), 'float32').toFloat32Array()));
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}
