/**
 * Channels-last (NHWC) activations on the CPU: each layout-dependent op transposes its NHWC operands to
 * NCHW, runs the NCHW kernel and transposes the results back. The CPU is the reference the GPU's NHWC
 * kernels are tested against, so this form is chosen for being plainly right, not fast.
 */
import type { Backend, DeviceBuffer } from '../backend.js';
import { allocCpu, f32, freeCpu } from './buffer.js';

export type LayoutOps = Pick<Backend, 'conv2d' | 'conv2dBackwardData' | 'conv2dBackwardFilter' | 'groupNorm' | 'groupNormBackward' | 'resample' | 'resampleBackward'>;

/**
 * A channels-last operand as [batch, pixels, channels]; its NCHW form is [batch, channels, pixels]. A KRSC
 * filter [out, kh*kw, in] and its OIHW form [out, in, kh*kw] read the same way.
 */
type Operand = readonly [buf: DeviceBuffer, batch: number, pixels: number, channels: number];

/** dst[b, j, i] = src[b, i, j] for src [batch, rows, cols]. */
function transposeInto(src: DeviceBuffer, dst: DeviceBuffer, batch: number, rows: number, cols: number): void {
  const s = f32(src);
  const d = f32(dst);
  for (let b = 0; b < batch; b++) {
    const base = b * rows * cols;
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) d[base + j * rows + i] = s[base + i * cols + j];
  }
}

/**
 * Runs `op` on NCHW copies of the channels-last `inputs` and an NCHW output, then writes that output
 * channels last into `output`'s buffer.
 */
function viaNchw(inputs: readonly Operand[], output: Operand, op: (nchw: DeviceBuffer[], out: DeviceBuffer) => void): void {
  const copies = inputs.map(([buf, batch, pixels, channels]) => {
    const copy = allocCpu('float32', batch * pixels * channels);
    transposeInto(buf, copy, batch, pixels, channels);
    return copy;
  });
  const [dst, batch, pixels, channels] = output;
  const out = allocCpu('float32', batch * pixels * channels);
  op(copies, out);
  transposeInto(out, dst, batch, channels, pixels);
  for (const b of [...copies, out]) freeCpu(b);
}

/** `ops` with each op taking `channelsLast` params through transposes around its NCHW form. */
export function withChannelsLast(ops: LayoutOps): LayoutOps {
  return {
    conv2d: (x, w, bias, y, p) => {
      if (!p.channelsLast) return ops.conv2d(x, w, bias, y, p);
      const q = { ...p, channelsLast: false };
      viaNchw([[x, p.n, p.h * p.w, p.cIn], [w, p.cOut, p.kh * p.kw, p.cIn]], [y, p.n, p.hOut * p.wOut, p.cOut], ([xc, wc], yc) => ops.conv2d(xc, wc, bias, yc, q));
    },
    conv2dBackwardData: (dy, w, dx, p) => {
      if (!p.channelsLast) return ops.conv2dBackwardData(dy, w, dx, p);
      const q = { ...p, channelsLast: false };
      viaNchw([[dy, p.n, p.hOut * p.wOut, p.cOut], [w, p.cOut, p.kh * p.kw, p.cIn]], [dx, p.n, p.h * p.w, p.cIn], ([dyc, wc], dxc) => ops.conv2dBackwardData(dyc, wc, dxc, q));
    },
    conv2dBackwardFilter: (x, dy, dw, p) => {
      if (!p.channelsLast) return ops.conv2dBackwardFilter(x, dy, dw, p);
      const q = { ...p, channelsLast: false };
      viaNchw([[x, p.n, p.h * p.w, p.cIn], [dy, p.n, p.hOut * p.wOut, p.cOut]], [dw, p.cOut, p.kh * p.kw, p.cIn], ([xc, dyc], dwc) => ops.conv2dBackwardFilter(xc, dyc, dwc, q));
    },
    groupNorm: (x, gamma, beta, y, mean, rstd, p) => {
      if (!p.channelsLast) return ops.groupNorm(x, gamma, beta, y, mean, rstd, p);
      const q = { ...p, channelsLast: false };
      viaNchw([[x, p.n, p.hw, p.c]], [y, p.n, p.hw, p.c], ([xc], yc) => ops.groupNorm(xc, gamma, beta, yc, mean, rstd, q));
    },
    groupNormBackward: (x, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, p) => {
      if (!p.channelsLast) return ops.groupNormBackward(x, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, p);
      const q = { ...p, channelsLast: false };
      viaNchw([[x, p.n, p.hw, p.c], [dy, p.n, p.hw, p.c]], [dx, p.n, p.hw, p.c], ([xc, dyc], dxc) => ops.groupNormBackward(xc, gamma, beta, mean, rstd, dyc, dxc, dgamma, dbeta, q));
    },
    resample: (x, y, p) => {
      if (!p.channelsLast) return ops.resample(x, y, p);
      const q = { ...p, channelsLast: false };
      viaNchw([[x, p.n, p.h * p.w, p.c]], [y, p.n, p.hOut * p.wOut, p.c], ([xc], yc) => ops.resample(xc, yc, q));
    },
    resampleBackward: (dy, dx, p) => {
      if (!p.channelsLast) return ops.resampleBackward(dy, dx, p);
      const q = { ...p, channelsLast: false };
      viaNchw([[dy, p.n, p.hOut * p.wOut, p.c]], [dx, p.n, p.h * p.w, p.c], ([dyc], dxc) => ops.resampleBackward(dyc, dxc, q));
    },
  };
}
