/**
 * Self-attention over [B, 3C, L] q/k/v (the U-Net's attention blocks): two strided cuBLASLt products around
 * a row softmax, reading q, k and v in place.
 */
import type { AttentionParams, DeviceBuffer } from '../backend.js';
import type { Launcher } from './launcher.js';
import type { Matmul } from './matmul.js';
import { f32 } from './operands.js';
import { SOFTMAX } from './kernels/softmax.js';

/** out = v @ softmax(q^T k / sqrt(C))^T, keeping the weights [B, L, L] for the backward pass. */
export function attention(launcher: Launcher, matmul: Matmul, qkvb: DeviceBuffer, outb: DeviceBuffer, wb: DeviceBuffer, p: AttentionParams): void {
  const k = launcher.kernel;
  const { b, c, l } = p;
  const qkv = f32(qkvb, 'attention');
  const w = f32(wb, 'attention');
  const e = 4; // bytes of a float32
  const part = (which: number) => qkv.ptr + which * l * e;
  // weights = softmax(q^T k / sqrt(C)): q, k read in place as [C, L] with row stride 3L
  matmul.gemm('float32', part(0), part(1), w.ptr, 'float32', { batch: b, m: l, n: l, k: c, transA: true, transB: false, alpha: 1 / Math.sqrt(c), beta: 0, strideA: 3 * c * l, strideB: 3 * c * l, strideC: l * l, lda: 3 * l, ldb: 3 * l, ldc: l });
  k(SOFTMAX, 'softmax_rows').launch(Math.ceil((b * l) / 8), 256, 0, [w.ptr, b * l, l]);
  // out = v @ weights^T
  matmul.gemm('float32', part(2), w.ptr, f32(outb, 'attention').ptr, 'float32', { batch: b, m: c, n: l, k: l, transA: false, transB: true, alpha: 1, beta: 0, strideA: 3 * c * l, strideB: l * l, strideC: c * l, lda: 3 * l, ldb: l, ldc: l });
}

/** Gradients of q, k and v (into dqkv) from those of the output and the saved weights. */
export function attentionBackward(launcher: Launcher, matmul: Matmul, qkvb: DeviceBuffer, wb: DeviceBuffer, doutb: DeviceBuffer, dqkvb: DeviceBuffer, p: AttentionParams): void {
  const k = launcher.kernel;
  const allocator = launcher.allocator;
  const { b, c, l } = p;
  const qkv = f32(qkvb, 'attention');
  const w = f32(wb, 'attention');
  const dout = f32(doutb, 'attention');
  const dqkv = f32(dqkvb, 'attention');
  const e = 4; // bytes of a float32
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
}
