import { isGradEnabled, keep, noGrad, tidy } from './engine.js';
import { Tensor, empty, full, ownedView, zeros } from './tensor.js';
import { formatShape, numel, sameShape } from '../base/shape.js';
import type { DType } from '../base/dtype.js';

/**
 * Gradients of an op's inputs given the gradient of its output and the views the op saved (in the order it
 * gave them to record(), null where it saved nothing); null for an input that needs no gradient.
 */
export type BackwardFn = (gradOutput: Tensor, saved: readonly (Tensor | null)[]) => (Tensor | RowGradient | null)[];

/**
 * The gradient of rows [start, start + part.shape[0]) (along the first axis) of an input of `shape`, zero in
 * every other row: what a narrow along the batch axis gives back. The pass keeps the disjoint row gradients
 * of one tensor apart and writes each into its rows of one buffer when the tensor's gradient is used, where
 * dense gradients would each be zero-filled at full size and then summed (a batch routed per stage to three
 * decoders gave every skip activation three full-size zero fills and two full-size adds).
 */
export class RowGradient {
  constructor(
    readonly part: Tensor,
    readonly start: number,
    readonly shape: readonly number[],
  ) {}

  get end(): number {
    return this.start + this.part.shape[0];
  }
}

/**
 * One recorded operation of the autograd tape. Its backward reads views of the tensors the op saved, never
 * the op's inputs themselves: a memory scope may dispose those (a module's forward frees its temporaries as
 * it returns), and then only what some node saved stays alive, as in PyTorch.
 *
 * A node is referenced by its output tensor until that is disposed, and by every consumer node not yet
 * freed. It frees its saved views and lets go of its inputs once backward has run through it (memory falls
 * as backward proceeds), or when nothing references it any more: a graph whose backward never runs is
 * freed with the scope that made it. A graph whose output is kept outside every scope lives until that
 * output is disposed or back-propagated, like any tensor outside a scope.
 */
export class GradNode {
  /** The output tensor, consumer nodes not yet freed, and a backward pass under way. */
  private refs = 1;
  private inputList: readonly Tensor[] | null;
  private saved: (Tensor | null)[] | null;
  private fn: BackwardFn | null;

  constructor(readonly name: string, inputs: readonly Tensor[], saved: readonly (Tensor | null)[], fn: BackwardFn) {
    this.inputList = inputs;
    // Owned by this node, not by the scope the op ran in.
    this.saved = saved.map((t) => t && ownedView(t));
    this.fn = fn;
    for (const t of inputs) t.node?.retain();
  }

  get isFreed(): boolean {
    return this.inputList === null;
  }

  /** The op's inputs; none once freed. */
  get inputs(): readonly Tensor[] {
    return this.inputList ?? [];
  }

  retain(): void {
    if (!this.isFreed) this.refs++;
  }

  release(): void {
    if (!this.isFreed && --this.refs === 0) this.free();
  }

  /** Frees the saved views now, and with them every input node that nothing else references. */
  free(): void {
    // Iterative: disposing the loss of a graph that was never back-propagated unwinds a whole network.
    const pending: GradNode[] = [this];
    while (pending.length > 0) {
      const node = pending.pop()!;
      const inputs = node.inputList;
      if (!inputs) continue;
      for (const t of node.saved!) t?.dispose();
      node.inputList = null;
      node.saved = null;
      node.fn = null;
      for (const t of inputs) {
        const n = t.node;
        if (n && !n.isFreed && --n.refs === 0) pending.push(n);
      }
    }
  }

  backward(gradOutput: Tensor): (Tensor | RowGradient | null)[] {
    if (!this.fn) throw secondBackward(this);
    return this.fn(gradOutput, this.saved!);
  }
}

function secondBackward(node: GradNode): Error {
  return new Error(
    `backward through ${node.name} a second time: backward() frees the graph's saved tensors as it goes (there is no retain_graph); run the forward pass again`,
  );
}

/**
 * Attaches a tape node to `out` when gradients are on and any input needs them. `saved`: the tensors (inputs,
 * outputs or extras such as normalisation statistics) the backward reads, handed to it as views. Returns out.
 */
export function record(out: Tensor, name: string, inputs: readonly Tensor[], saved: readonly (Tensor | null)[], backward: BackwardFn): Tensor {
  if (isGradEnabled() && anyRequiresGrad(inputs)) {
    out.requiresGrad = true;
    out.node = new GradNode(name, inputs, saved, backward);
  }
  return out;
}

const noInputs: readonly Tensor[] = [];

function anyRequiresGrad(inputs: readonly Tensor[]): boolean {
  for (const t of inputs) if (t.requiresGrad) return true;
  return false;
}

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<number>();
  // Iterative DFS (U-Nets are deep enough that recursion depth is worth avoiding), its stack of tensors and
  // of the next input to visit of each kept as two arrays rather than a pair per tensor.
  const stack: Tensor[] = [root];
  const nextInput: number[] = [0];
  seen.add(root.id);
  while (stack.length > 0) {
    const top = stack.length - 1;
    const t = stack[top];
    const node = t.node;
    if (node?.isFreed) throw secondBackward(node);
    const inputs = node ? node.inputs : noInputs;
    const i = nextInput[top];
    if (i < inputs.length) {
      nextInput[top] = i + 1;
      const next = inputs[i];
      if (next.requiresGrad && !seen.has(next.id)) {
        seen.add(next.id);
        stack.push(next);
        nextInput.push(0);
      }
    } else {
      stack.pop();
      nextInput.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/** What a backward pass tells its caller as it goes (data-parallel training starts its gradient sums from these). */
export interface BackwardHooks {
  /** Before the pass runs: the leaves it gives a gradient (those that require one and feed the root). */
  begins?(leaves: readonly Tensor[]): void;
  /**
   * Each leaf as soon as the pass has stored its last contribution to `.grad`, before the rest of the pass
   * runs. In the paper's networks the depth-first order puts every weight right after the last op that uses it.
   */
  gradientFinal?(leaf: Tensor): void;
}

/**
 * Back-propagates from `root` (a scalar unless `gradient` is given). Leaf tensors that require grad
 * accumulate into `.grad` (kept outside any memory scope; a leaf disposed before backward gets none). Each
 * node is freed as soon as its backward has run, so the graph can be back-propagated once.
 */
export function backward(root: Tensor, gradient?: Tensor, hooks?: BackwardHooks): void {
  if (!root.requiresGrad) throw new Error('backward() on a tensor that does not require grad (no parameter or input needs a gradient)');
  if (!gradient && root.size !== 1) throw new Error(`backward() without a gradient needs a scalar, got ${formatShape(root.shape)}`);
  const order = topologicalOrder(root);
  const nodes: GradNode[] = [];
  const leaves: Tensor[] = [];
  for (const t of order) {
    if (t.node) nodes.push(t.node);
    else leaves.push(t);
  }
  hooks?.begins?.(leaves);
  // Pinned for the pass: freeing a node releases its input nodes, which must last until their own turn.
  for (const node of nodes) node.retain();
  try {
    noGrad(() => backPropagate(order, root, gradient, hooks?.gradientFinal));
  } finally {
    for (const node of nodes) node.release();
  }
}

function backPropagate(order: readonly Tensor[], root: Tensor, gradient: Tensor | undefined, onLeafGradient: ((leaf: Tensor) => void) | undefined): void {
  // A tensor's gradient so far: dense, or disjoint row gradients not yet written into one buffer.
  const grads = new Map<number, Tensor | RowGradient[]>();
  grads.set(root.id, gradient ?? full(root.shape, 1, 'float32', root.backend));
  for (const t of order) {
    const entry = grads.get(t.id);
    grads.delete(t.id);
    const g = entry && dense(entry);
    const node = t.node;
    if (!node) {
      if (!g) continue;
      if (t.isDisposed) {
        if (g !== gradient) g.dispose();
      } else {
        t.grad = keep(t.grad ? addInto(t.grad, g) : g === gradient ? cloneOf(g) : g);
        onLeafGradient?.(t);
      }
      continue;
    }
    if (!g) {
      node.free();
      continue;
    }
    const inputs = node.inputs;
    // The backward's own temporaries (a product before its broadcast sum, say) die with this scope.
    const { inputGrads } = tidy(() => {
      const grads = node.backward(g);
      // (a row gradient's part made inside the backward survives the scope as the tensors in the list do)
      return { inputGrads: grads, parts: grads.map((r) => (r instanceof RowGradient ? r.part : null)) };
    });
    node.free();
    // A backward may pass gradOutput through, or one tensor to several inputs: each input gets its own.
    const used: Tensor[] = []; // an op has a few inputs: a list beats a Set
    for (let i = 0; i < inputs.length; i++) {
      const input = inputs[i];
      const given = inputGrads[i];
      if (!given || !input.requiresGrad) continue;
      const rows = given instanceof RowGradient ? given : null;
      let gi = rows ? rows.part : (given as Tensor);
      if (!sameShape(rows ? rows.shape : gi.shape, input.shape)) {
        throw new Error(`internal: ${node.name} backward gave a gradient of ${formatShape(rows ? rows.shape : gi.shape)} for an input of ${formatShape(input.shape)}`);
      }
      // Each input gets its gradient in its own dtype (a bf16 activation's gradient is bf16, a weight's float32).
      if (gi.dtype !== input.dtype) gi = castImpl!(gi, input.dtype);
      else if (used.includes(gi) || gi === gradient) gi = cloneOf(gi);
      used.push(gi);
      const prev = grads.get(input.id);
      if (rows) {
        const slice = new RowGradient(gi, rows.start, rows.shape);
        if (!prev) grads.set(input.id, [slice]);
        else if (Array.isArray(prev) && prev.every((p) => p.end <= slice.start || slice.end <= p.start)) prev.push(slice);
        else grads.set(input.id, addInto(dense(prev), dense([slice])));
      } else grads.set(input.id, prev ? addInto(dense(prev), gi) : gi);
    }
    // What no input took (dispose is idempotent, so a tensor listed twice is fine).
    if (!used.includes(g) && g !== gradient) g.dispose();
    for (const given of inputGrads) {
      const gi = given instanceof RowGradient ? given.part : given;
      if (gi && !used.includes(gi) && gi !== gradient) gi.dispose();
    }
  }
}

/** The gradient as one tensor: row gradients written into their rows (zero where none covers a row). */
function dense(entry: Tensor | RowGradient[]): Tensor {
  if (!Array.isArray(entry)) return entry;
  const { shape, part } = entry[0];
  const covered = entry.reduce((n, r) => n + r.part.shape[0], 0);
  const out = covered === shape[0] ? empty(shape, part.dtype, part.backend) : zeros(shape, part.dtype, part.backend);
  const row = numel(shape.slice(1));
  for (const r of entry) {
    out.backend.copyRows(r.part.buffer, 0, 0, out.buffer, r.start * row, 0, 1, r.part.size);
    r.part.dispose();
  }
  return out;
}

// Late-bound to avoid an import cycle with ops.ts.
let addImpl: ((a: Tensor, b: Tensor) => Tensor) | null = null;
let castImpl: ((a: Tensor, dtype: DType) => Tensor) | null = null;
let cloneImpl: ((a: Tensor) => Tensor) | null = null;
export function bindAutogradOps(add: (a: Tensor, b: Tensor) => Tensor, cast: (a: Tensor, dtype: DType) => Tensor, clone: (a: Tensor) => Tensor): void {
  addImpl = add;
  castImpl = cast;
  cloneImpl = clone;
}
function addInto(a: Tensor, b: Tensor): Tensor {
  const s = addImpl!(a, b);
  a.dispose();
  b.dispose();
  return s;
}
function cloneOf(a: Tensor): Tensor {
  return cloneImpl!(a);
}
