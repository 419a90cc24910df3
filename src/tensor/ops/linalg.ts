/** Linear algebra: matrix products (under autocast), PyTorch's linear layer, the outer product. */
import { formatShape } from '../../base/shape.js';
import { record } from '../autograd.js';
import { type Tensor, empty } from '../tensor.js';
import { castOperands, computeDtype, releaseCasts } from './autocast.js';
import { checkFloat, checkSameBackend } from './checks.js';
import { add, cast, mul, sumTo } from './elementwise.js';
import { sum } from './reductions.js';
import { reshape } from './shape.js';

/**
 * Matrix product of the last two axes; a leading batch axis on either side broadcasts. Under autocast the
 * operands are cast to its dtype inside the op and the product is in that dtype (fp32 accumulation), as
 * PyTorch's autocast does; the gradients come back in each operand's own dtype.
 */
export function matmul(a: Tensor, b: Tensor, transA = false, transB = false): Tensor {
  checkSameBackend(a, b);
  checkFloat('matmul', a, b);
  const [ac, bc] = castOperands([a, b], computeDtype(a.backend));
  const out = product(ac, bc, transA, transB);
  const [shapeA, shapeB] = [a.shape, b.shape];
  record(out, 'matmul', [a, b], [a.requiresGrad ? bc : null, b.requiresGrad ? ac : null], (g, [sb, sa]) => {
    // dA = g @ op(B)^T (in A's own orientation), dB likewise; batch-broadcast operands sum over the batch.
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    if (sb) {
      const full = transA ? product(sb, g, transB, true) : product(g, sb, false, !transB);
      ga = shapeA.length === 2 && full.ndim === 3 ? sum(full, [0]) : full;
      if (shapeA.length === 3 && shapeA[0] === 1) ga = sumTo(ga, shapeA);
    }
    if (sa) {
      const full = transB ? product(g, sa, true, transA) : product(sa, g, !transA, false);
      gb = shapeB.length === 2 && full.ndim === 3 ? sum(full, [0]) : full;
      if (shapeB.length === 3 && shapeB[0] === 1) gb = sumTo(gb, shapeB);
    }
    return [ga, gb];
  });
  releaseCasts([ac, bc], [a, b]);
  return out;
}

/** The product of two operands of one dtype (float32 or an autocast dtype), in that dtype, not recorded. */
function product(a: Tensor, b: Tensor, transA: boolean, transB: boolean): Tensor {
  if (a.dtype !== b.dtype) throw new Error(`matmul of ${a.dtype} and ${b.dtype} operands`);
  if (a.ndim < 2 || b.ndim < 2 || a.ndim > 3 || b.ndim > 3) throw new Error(`matmul needs 2-D or 3-D tensors, got ${formatShape(a.shape)} and ${formatShape(b.shape)}`);
  const [ar, ac] = a.shape.slice(-2);
  const [br, bc] = b.shape.slice(-2);
  const m = transA ? ac : ar;
  const k = transA ? ar : ac;
  const kb = transB ? bc : br;
  const n = transB ? br : bc;
  if (k !== kb) throw new Error(`matmul: inner dimensions differ: ${formatShape(a.shape)}${transA ? 'ᵀ' : ''} @ ${formatShape(b.shape)}${transB ? 'ᵀ' : ''}`);
  const batchA = a.ndim === 3 ? a.shape[0] : 1;
  const batchB = b.ndim === 3 ? b.shape[0] : 1;
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) throw new Error(`matmul: batch sizes ${batchA} and ${batchB} differ`);
  const batch = Math.max(batchA, batchB);
  const outShape = a.ndim === 3 || b.ndim === 3 ? [batch, m, n] : [m, n];
  const out = empty(outShape, a.dtype, a.backend);
  a.backend.matmul(a.buffer, b.buffer, out.buffer, {
    batch, m, n, k, transA, transB, alpha: 1, beta: 0,
    strideA: batchA === 1 ? 0 : ar * ac, strideB: batchB === 1 ? 0 : br * bc, strideC: m * n,
  });
  return out;
}

/** y = x @ W^T + b with PyTorch's Linear layout (W: [out, in]). */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  if (x.ndim !== 2 || weight.ndim !== 2 || x.shape[1] !== weight.shape[1]) {
    throw new Error(`linear: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)} (expected [N, ${weight.shape[1]}])`);
  }
  const y = matmul(x, weight, false, true);
  // Under autocast the bias joins the product's dtype (as PyTorch's addmm), so a bf16 activation stays bf16.
  return bias ? add(y, cast(bias, y.dtype)) : y;
}

/** Outer product of two vectors: out[i, j] = a[i] * b[j]. */
export function outer(a: Tensor, b: Tensor): Tensor {
  return mul(reshape(a, [a.size, 1]), reshape(b, [1, b.size]));
}
