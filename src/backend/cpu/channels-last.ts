/**
 * Channels-last (NHWC) activations on the CPU: each layout-dependent op transposes its NHWC operands to
 * NCHW, runs the NCHW kernel and transposes the results back. The CPU is the reference the GPU's NHWC
 * kernels are tested against, so this form is chosen for being plainly right, not fast.
 */
import type { Backend, DeviceBuffer } from '../backend.js';
import { allocCpu, f32, freeCpu } from './buffer.js';

export type LayoutOps = Pick<Backend, 'conv2d' | 'conv2dBackwardData' | 'conv2dBackwardFilter' | 'groupNorm' | 'groupNormBackward' | 'resample' | 'resampleBackward'>;

/**
 * dst[b, j, i] = src[b, i, j] for src [batch, rows, cols]. NHWC -> NCHW is [n, hw, c] -> [n, c, hw], and a
 * KRSC filter [o, kh*kw, i] becomes OIHW the same way; the way back swaps rows and cols.
 */
function transposeInto(src: DeviceBuffer, dst: DeviceBuffer, batch: number, rows: number, cols: number): void {
  const s = f32(src);
  const d = f32(dst);
  for (let b = 0; b < batch; b++) {
    const base = b * rows * cols;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) d[base + j * rows + i] = s[base + i * cols + j];
  }
}

/** A new buffer holding src [batch, rows, cols] transposed to [batch, cols, rows]. */
function swapped(src: DeviceBuffer, batch: number, rows: number, cols: number): DeviceBuffer {
  const out = allocCpu('float32', batch * rows * cols);
  transposeInto(src, out, batch, rows, cols);
  return out;
}

/** Writes the NCHW result `nchw` [batch, cols, rows] into `dst` as [batch, rows, cols] and frees it. */
function storeSwapped(nchw: DeviceBuffer, dst: DeviceBuffer, batch: number, rows: number, cols: number): void {
  transposeInto(nchw, dst, batch, cols, rows);
  freeCpu(nchw);
}

/** `ops` with each op taking `channelsLast` params through transposes around its NCHW form. */
export function withChannelsLast(ops: LayoutOps): LayoutOps {
  return {
    conv2d: (x, w, bias, y, p) => {
      if (!p.channelsLast) return ops.conv2d(x, w, bias, y, p);
      const q = { ...p, channelsLast: false };
      const xc = swapped(x, p.n, p.h * p.w, p.cIn);
      const wc = swapped(w, p.cOut, p.kh * p.kw, p.cIn);
      const yc = allocCpu('float32', p.n * p.cOut * p.hOut * p.wOut);
      ops.conv2d(xc, wc, bias, yc, q);
      storeSwapped(yc, y, p.n, p.hOut * p.wOut, p.cOut);
      freeCpu(xc);
      freeCpu(wc);
    },
    conv2dBackwardData: (dy, w, dx, p) => {
      if (!p.channelsLast) return ops.conv2dBackwardData(dy, w, dx, p);
      const dyc = swapped(dy, p.n, p.hOut * p.wOut, p.cOut);
      const wc = swapped(w, p.cOut, p.kh * p.kw, p.cIn);
      const dxc = allocCpu('float32', p.n * p.cIn * p.h * p.w);
      ops.conv2dBackwardData(dyc, wc, dxc, { ...p, channelsLast: false });
      storeSwapped(dxc, dx, p.n, p.h * p.w, p.cIn);
      freeCpu(dyc);
      freeCpu(wc);
    },
    conv2dBackwardFilter: (x, dy, dw, p) => {
      if (!p.channelsLast) return ops.conv2dBackwardFilter(x, dy, dw, p);
      const xc = swapped(x, p.n, p.h * p.w, p.cIn);
      const dyc = swapped(dy, p.n, p.hOut * p.wOut, p.cOut);
      const dwc = allocCpu('float32', p.cOut * p.cIn * p.kh * p.kw);
      ops.conv2dBackwardFilter(xc, dyc, dwc, { ...p, channelsLast: false });
      storeSwapped(dwc, dw, p.cOut, p.kh * p.kw, p.cIn);
      freeCpu(xc);
      freeCpu(dyc);
    },
    groupNorm: (x, gamma, beta, y, mean, rstd, p) => {
      if (!p.channelsLast) return ops.groupNorm(x, gamma, beta, y, mean, rstd, p);
      const xc = swapped(x, p.n, p.hw, p.c);
      const yc = allocCpu('float32', p.n * p.c * p.hw);
      ops.groupNorm(xc, gamma, beta, yc, mean, rstd, { ...p, channelsLast: false });
      storeSwapped(yc, y, p.n, p.hw, p.c);
      freeCpu(xc);
    },
    groupNormBackward: (x, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, p) => {
      if (!p.channelsLast) return ops.groupNormBackward(x, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, p);
      const xc = swapped(x, p.n, p.hw, p.c);
      const dyc = swapped(dy, p.n, p.hw, p.c);
      const dxc = allocCpu('float32', p.n * p.c * p.hw);
      ops.groupNormBackward(xc, gamma, beta, mean, rstd, dyc, dxc, dgamma, dbeta, { ...p, channelsLast: false });
      storeSwapped(dxc, dx, p.n, p.hw, p.c);
      freeCpu(xc);
      freeCpu(dyc);
    },
    resample: (x, y, p) => {
      if (!p.channelsLast) return ops.resample(x, y, p);
      const xc = swapped(x, p.n, p.h * p.w, p.c);
      const yc = allocCpu('float32', p.n * p.c * p.hOut * p.wOut);
      ops.resample(xc, yc, { ...p, channelsLast: false });
      storeSwapped(yc, y, p.n, p.hOut * p.wOut, p.c);
      freeCpu(xc);
    },
    resampleBackward: (dy, dx, p) => {
      if (!p.channelsLast) return ops.resampleBackward(dy, dx, p);
      const dyc = swapped(dy, p.n, p.hOut * p.wOut, p.c);
      const dxc = allocCpu('float32', p.n * p.c * p.h * p.w);
      ops.resampleBackward(dyc, dxc, { ...p, channelsLast: false });
      storeSwapped(dxc, dx, p.n, p.h * p.w, p.c);
      freeCpu(dyc);
    },
  };
}
