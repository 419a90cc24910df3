import { isGradEnabled, keep, noGrad } from './engine.js';
import { type GradNode, Tensor, full } from './tensor.js';
import { formatShape, sameShape } from './shape.js';

/** Attaches a tape node to `out` when gradients are on and any input needs them. Returns out. */
export function record(out: Tensor, name: string, inputs: readonly Tensor[], backward: GradNode['backward']): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { name, inputs, backward };
  }
  return out;
}

function topologicalOrder(root: Tensor): Tensor[] {
  const order: Tensor[] = [];
  const seen = new Set<number>();
  // iterative DFS: U-Nets are deep enough that recursion depth is worth avoiding
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root.id);
  while (stack.length > 0) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const next = inputs[i];
      if (next.requiresGrad && !seen.has(next.id)) {
        seen.add(next.id);
        stack.push([next, 0]);
      }
    } else {
      stack.pop();
      order.push(t);
    }
  }
  return order.reverse();
}

/**
 * Back-propagates from `root` (a scalar unless `gradient` is given). Leaf tensors that require grad
 * accumulate into `.grad` (kept outside any memory scope); the tape is released afterwards.
 */
export function backward(root: Tensor, gradient?: Tensor): void {
  if (!root.requiresGrad) throw new Error('backward() on a tensor that does not require grad (no parameter or input needs a gradient)');
  if (!gradient && root.size !== 1) throw new Error(`backward() without a gradient needs a scalar, got ${formatShape(root.shape)}`);
  const order = topologicalOrder(root);
  const grads = new Map<number, Tensor>();
  noGrad(() => {
    grads.set(root.id, gradient ?? full(root.shape, 1, 'float32', root.backend));
    for (const t of order) {
      const g = grads.get(t.id);
      if (!g) continue;
      grads.delete(t.id);
      const node = t.node;
      if (!node) {
        if (t.grad) {
          const sum = addInto(t.grad, g);
          t.grad = keep(sum);
        } else t.grad = keep(g === gradient ? cloneOf(g) : g);
        continue;
      }
      // A backward may pass gradOutput through, or one tensor to several inputs: each input gets its own.
      const inputGrads = node.backward(g);
      const used = new Set<Tensor>();
      node.inputs.forEach((input, i) => {
        let gi = inputGrads[i];
        if (!gi || !input.requiresGrad) return;
        if (!sameShape(gi.shape, input.shape)) {
          throw new Error(`internal: ${node.name} backward gave a gradient of ${formatShape(gi.shape)} for an input of ${formatShape(input.shape)}`);
        }
        if (used.has(gi) || gi === gradient) gi = cloneOf(gi);
        used.add(gi);
        const prev = grads.get(input.id);
        grads.set(input.id, prev ? addInto(prev, gi) : gi);
      });
      for (const gi of new Set([g, ...inputGrads])) if (gi && !used.has(gi) && gi !== gradient) gi.dispose();
    }
  });
  for (const t of order) t.node = null;
}

// Late-bound to avoid an import cycle with ops.ts.
let addImpl: ((a: Tensor, b: Tensor) => Tensor) | null = null;
let cloneImpl: ((a: Tensor) => Tensor) | null = null;
export function bindAutogradOps(add: (a: Tensor, b: Tensor) => Tensor, clone: (a: Tensor) => Tensor): void {
  addImpl = add;
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
