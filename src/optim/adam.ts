/**
 * Adam and AdamW as PyTorch defines them (bias-corrected moments, eps added outside the square root), every
 * parameter in one multi-tensor backend call (one kernel launch on a GPU). State is kept per parameter
 * name, so a checkpoint's optimizer moments load back by name, like the weights.
 */
import type { AdamTensor, Backend } from '../backend/backend.js';
import { keep, noGrad, tidy } from '../tensor/engine.js';
import { add, clone, mulScalar } from '../tensor/ops/index.js';
import { formatShape, sameShape } from '../base/shape.js';
import { type Tensor, fromArray, zeros } from '../tensor/tensor.js';
import type { HostTensor } from '../nn/safetensors.js';
import { hostTensor } from '../nn/state-dict-file.js';

export interface AdamOptions {
  /** Learning rate; settable between steps (`optimizer.lr = ...`). */
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** Adam: L2 penalty added to the gradient. AdamW: decoupled decay of the weights. */
  weightDecay?: number;
}

/** Optimizer state for a checkpoint: step counts (JSON) and moments (safetensors), by parameter name. */
export interface AdamState {
  steps: Record<string, number>;
  /** `<param>.exp_avg` and `<param>.exp_avg_sq`, PyTorch's names for the two moments. */
  tensors: Map<string, HostTensor>;
}

interface Moments {
  m: Tensor;
  v: Tensor;
  step: number;
}

export class Adam {
  lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  readonly weightDecay: number;
  private readonly params: readonly (readonly [string, Tensor])[];
  private readonly moments = new Map<string, Moments>();

  /** `params`: (name, parameter) pairs, as Module.namedParameters() gives them. */
  constructor(params: Iterable<readonly [string, Tensor]>, options: AdamOptions = {}) {
    this.params = [...params];
    this.lr = options.lr ?? 1e-3;
    [this.beta1, this.beta2] = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? (this.decoupled ? 1e-2 : 0);
    const names = new Set<string>();
    for (const [name, p] of this.params) {
      if (names.has(name)) throw new Error(`${this.constructor.name}: parameter "${name}" given twice`);
      names.add(name);
      if (p.dtype !== 'float32') throw new Error(`${this.constructor.name}: parameter "${name}" is ${p.dtype}; master weights must be float32`);
    }
    for (const [k, v] of Object.entries({ beta1: this.beta1, beta2: this.beta2 })) if (!(v >= 0 && v < 1)) throw new Error(`${k} must be in [0, 1), got ${v}`);
  }

  /** Whether weight decay shrinks the weights directly (AdamW) rather than adding to the gradient (Adam). */
  protected get decoupled(): boolean {
    return false;
  }

  /** One update of every parameter that has a gradient (those without one are left alone, as in PyTorch). */
  step(): void {
    noGrad(() =>
      tidy(() => {
        // One call per backend and step count: the step counts differ only where a parameter once had no gradient.
        const groups = new Map<string, { backend: Backend; step: number; tensors: AdamTensor[] }>();
        for (const [name, p] of this.params) {
          const grad = p.grad;
          if (!grad) continue;
          let s = this.moments.get(name);
          if (!s) {
            s = { m: keep(zeros(p.shape, 'float32', p.backend)), v: keep(zeros(p.shape, 'float32', p.backend)), step: 0 };
            this.moments.set(name, s);
          }
          s.step++;
          const g = !this.decoupled && this.weightDecay ? add(grad, mulScalar(p, this.weightDecay)) : grad;
          const key = `${p.backend.name} ${s.step}`;
          let group = groups.get(key);
          if (!group) groups.set(key, (group = { backend: p.backend, step: s.step, tensors: [] }));
          group.tensors.push({ param: p.buffer, grad: g.buffer, m: s.m.buffer, v: s.v.buffer, length: p.size });
        }
        const weightDecay = this.decoupled ? this.weightDecay : 0;
        for (const { backend, step, tensors } of groups.values()) backend.adamMany(tensors, { lr: this.lr, beta1: this.beta1, beta2: this.beta2, eps: this.eps, weightDecay, step });
      }),
    );
  }

  /** Frees every parameter's gradient. */
  zeroGrad(): void {
    for (const [, p] of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  stateDict(): AdamState {
    const steps: Record<string, number> = {};
    const tensors = new Map<string, HostTensor>();
    for (const [name, s] of this.moments) {
      steps[name] = s.step;
      tensors.set(`${name}.exp_avg`, hostTensor(s.m));
      tensors.set(`${name}.exp_avg_sq`, hostTensor(s.v));
    }
    return { steps, tensors };
  }

  /** Replaces the state; every name must be one of this optimizer's parameters, with its shape. Checked before anything changes. */
  loadStateDict(state: AdamState): void {
    const byName = new Map(this.params);
    const entries = Object.entries(state.steps);
    for (const [name, step] of entries) {
      const p = byName.get(name);
      if (!p) throw new Error(`optimizer state has parameter "${name}", which this optimizer does not`);
      if (!Number.isInteger(step) || step < 1) throw new Error(`optimizer state: step of "${name}" must be a positive integer, got ${step}`);
      for (const suffix of ['exp_avg', 'exp_avg_sq']) {
        const h = state.tensors.get(`${name}.${suffix}`);
        if (!h) throw new Error(`optimizer state lacks ${name}.${suffix}`);
        if (!sameShape(h.shape, p.shape) || h.dtype !== 'float32') throw new Error(`optimizer state: ${name}.${suffix} is ${h.dtype} ${formatShape(h.shape)}, the parameter float32 ${formatShape(p.shape)}`);
      }
    }
    if (state.tensors.size !== 2 * entries.length) throw new Error(`optimizer state has ${state.tensors.size} tensors for ${entries.length} parameters (expected ${2 * entries.length})`);
    this.dispose();
    for (const [name, step] of entries) {
      const p = byName.get(name)!;
      const upload = (suffix: string): Tensor => keep(fromArray(state.tensors.get(`${name}.${suffix}`)!.data, p.shape, 'float32', p.backend));
      this.moments.set(name, { m: upload('exp_avg'), v: upload('exp_avg_sq'), step });
    }
  }

  /**
   * Gives each parameter named `to` + rest the moments and step count of `from` + rest (copies, bit for
   * bit), or none where that one has none: the optimizer then treats the two sub-networks alike.
   */
  copyState(from: string, to: string): void {
    const byName = new Map(this.params);
    const targets = this.params.filter(([name]) => name.startsWith(to));
    for (const [name, p] of targets) {
      const source = byName.get(from + name.slice(to.length));
      if (!source || !sameShape(source.shape, p.shape)) throw new Error(`copyState: ${name} ${formatShape(p.shape)} has no counterpart of its shape under "${from}"`);
    }
    noGrad(() => {
      for (const [name] of targets) {
        const old = this.moments.get(name);
        old?.m.dispose();
        old?.v.dispose();
        this.moments.delete(name);
        const s = this.moments.get(from + name.slice(to.length));
        if (s) this.moments.set(name, { m: keep(clone(s.m)), v: keep(clone(s.v)), step: s.step });
      }
    });
  }

  /** Frees the moments. */
  dispose(): void {
    for (const s of this.moments.values()) {
      s.m.dispose();
      s.v.dispose();
    }
    this.moments.clear();
  }
}

/** Adam with decoupled weight decay (Loshchilov & Hutter), PyTorch's AdamW: default decay 0.01. */
export class AdamW extends Adam {
  protected override get decoupled(): boolean {
    return true;
  }
}
