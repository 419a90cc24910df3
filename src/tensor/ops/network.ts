/**
 * The network layers' ops, coarse so that each is one kernel pair per backend: conv2d with bias (under
 * autocast), group norm fused with SiLU, EDM's attention, FIR resampling, dropout.
 */
import type { AttentionParams, Conv2dParams, GroupNormParams, ResampleParams } from '../../backend/backend.js';
import { formatShape } from '../../base/shape.js';
import { record } from '../autograd.js';
import type { Generator } from '../random.js';
import { type Tensor, empty } from '../tensor.js';
import { castOperands, computeDtype, releaseCasts } from './autocast.js';
import { checkFloat, checkFloat32Params, checkSameBackend } from './checks.js';
import { cast } from './elementwise.js';
import { sum } from './reductions.js';
import { permute, reshape } from './shape.js';

export interface Conv2dOptions {
  /** Zero padding on every side, or [rows, columns] of it: a 1x7 kernel keeps the size with [0, 3]. */
  pad?: number | readonly [number, number];
  stride?: number;
  /** x and the output are [N, H, W, C] (channels last); the weight stays [out, in, kh, kw]. */
  channelsLast?: boolean;
}

/** The channel axis of a 4-D activation: 1 in NCHW, 3 channels last. */
export function channelAxis(channelsLast: boolean): number {
  return channelsLast ? 3 : 1;
}

/** [N, C, H, W] as [N, H, W, C] when channelsLast, else x itself. */
export function toLayout(x: Tensor, channelsLast: boolean): Tensor {
  return channelsLast ? permute(x, [0, 2, 3, 1]) : x;
}

/** The inverse of toLayout: [N, H, W, C] back to [N, C, H, W] when channelsLast, else x itself. */
export function fromLayout(x: Tensor, channelsLast: boolean): Tensor {
  return channelsLast ? permute(x, [0, 3, 1, 2]) : x;
}

/**
 * 2-D convolution, NCHW (or NHWC with channelsLast), weight [out, in, kh, kw]. Channels last, the backend
 * takes the weight as [out, kh, kw, in] (cuDNN's KRSC): a permute op here, so its gradient flows back to
 * the [out, in, kh, kw] parameter. Under autocast x, the weight and the bias are cast to
 * its dtype for the backend (cuDNN accumulates in fp32) and the output stays in it: activations flow in
 * bfloat16 from one convolution to the next, as under PyTorch's autocast. Gradients come back in each
 * input's dtype (the weight's and bias's float32).
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions = {}): Tensor {
  checkSameBackend(x, weight);
  checkFloat('conv2d', x, weight);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== weight.shape[0])) throw new Error(`conv2d: bias ${formatShape(bias.shape)} does not match ${weight.shape[0]} output channels`);
  const [padH, padW] = typeof options.pad === 'object' ? options.pad : [options.pad ?? 0, options.pad ?? 0];
  const stride = options.stride ?? 1;
  const channelsLast = options.channelsLast ?? false;
  if (x.ndim !== 4 || weight.ndim !== 4 || x.shape[channelAxis(channelsLast)] !== weight.shape[1]) {
    const expected = channelsLast ? `[N, H, W, ${weight.shape[1]}]` : `[N, ${weight.shape[1]}, H, W]`;
    throw new Error(`conv2d: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)} (expected ${expected})`);
  }
  const [n, cIn, h, w] = channelsLast ? [x.shape[0], x.shape[3], x.shape[1], x.shape[2]] : x.shape;
  const [cOut, , kh, kw] = weight.shape;
  const hOut = Math.floor((h + 2 * padH - kh) / stride) + 1;
  const wOut = Math.floor((w + 2 * padW - kw) / stride) + 1;
  if (hOut <= 0 || wOut <= 0) throw new Error(`conv2d: kernel ${kh}x${kw} with padding (${padH}, ${padW}) does not fit input ${formatShape(x.shape)}`);
  const p: Conv2dParams = { n, cIn, h, w, cOut, kh, kw, padH, padW, stride, hOut, wOut, channelsLast };
  if (channelsLast) {
    const filter = permute(weight, [0, 2, 3, 1]);
    const y = convolve(x, filter, bias, p);
    filter.dispose();
    return y;
  }
  return convolve(x, weight, bias, p);
}

/** conv2d on a weight already in the backend's layout for p (KRSC channels last, else OIHW). */
function convolve(x: Tensor, weight: Tensor, bias: Tensor | null, p: Conv2dParams): Tensor {
  const { n, cIn, h, w, cOut, hOut, wOut, channelsLast } = p;
  const wShape = weight.shape;
  const [xShape, yShape] = channelsLast ? [[n, h, w, cIn], [n, hOut, wOut, cOut]] : [[n, cIn, h, w], [n, cOut, hOut, wOut]];
  // One op with the casts inside (not cast ops around a bf16 conv): the bias is added by cuDNN in place and
  // its gradient is the float32 sum of the incoming gradient; the backward hands dx and dw back in the
  // compute dtype and the tape casts them to x's and the weight's. In float32, casts return their input.
  const dtype = computeDtype(x.backend);
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const casts = castOperands(inputs, dtype);
  const [xc, wc] = casts;
  const bc = bias ? casts[2] : null;
  const y = empty(yShape, dtype, x.backend);
  x.backend.conv2d(xc.buffer, wc.buffer, bc ? bc.buffer : null, y.buffer, p);
  const hasBias = bias !== null;
  const needBias = bias?.requiresGrad ?? false;
  // dx reads the weight and dw reads x.
  record(y, 'conv2d', inputs, [x.requiresGrad ? wc : null, weight.requiresGrad ? xc : null], (g, [sw, sx]) => {
    let gx: Tensor | null = null;
    let gw: Tensor | null = null;
    if (sw) {
      gx = empty(xShape, dtype, g.backend);
      g.backend.conv2dBackwardData(g.buffer, sw.buffer, gx.buffer, p);
    }
    if (sx) {
      gw = empty(wShape, dtype, g.backend);
      g.backend.conv2dBackwardFilter(sx.buffer, g.buffer, gw.buffer, p);
    }
    const gb = needBias ? reshape(sum(g, channelsLast ? [0, 1, 2] : [0, 2, 3], true, 'float32'), [cOut]) : null;
    return hasBias ? [gx, gw, gb] : [gx, gw];
  });
  releaseCasts(casts, inputs);
  return y;
}

/**
 * GroupNorm over [N, C, ...] (or [N, ..., C] with channelsLast) with per-channel affine gamma, beta, in x's
 * dtype (statistics in float32); with `silu`, SiLU of it in the same kernel (what every U-Net block does
 * after a norm).
 */
export function groupNorm(x: Tensor, gamma: Tensor, beta: Tensor, groups: number, eps: number, silu = false, channelsLast = false): Tensor {
  checkFloat('groupNorm', x, gamma, beta);
  const n = x.shape[0];
  const c = x.shape[channelsLast ? x.ndim - 1 : 1];
  if (x.ndim < 2 || c % groups !== 0) throw new Error(`groupNorm: ${c} channels of ${formatShape(x.shape)} do not split into ${groups} groups`);
  if (gamma.size !== c || beta.size !== c) throw new Error(`groupNorm: gamma/beta have ${gamma.size}/${beta.size} elements for ${c} channels`);
  checkFloat32Params('groupNorm', gamma, beta);
  const p: GroupNormParams = { n, c, hw: x.size / (n * c), groups, eps, silu, channelsLast };
  const y = empty(x.shape, x.dtype, x.backend);
  const meanT = empty([n, groups], 'float32', x.backend);
  const rstdT = empty([n, groups], 'float32', x.backend);
  x.backend.groupNorm(x.buffer, gamma.buffer, beta.buffer, y.buffer, meanT.buffer, rstdT.buffer, p);
  record(y, silu ? 'groupNormSilu' : 'groupNorm', [x, gamma, beta], [x, gamma, silu ? beta : null, meanT, rstdT], (g, [sx, sg, sb, sm, sr]) => {
    const gx = empty(sx!.shape, sx!.dtype, g.backend);
    const gg = empty(sg!.shape, 'float32', g.backend);
    const gbt = empty(sg!.shape, 'float32', g.backend);
    // beta is read only with SiLU; without, any float32 buffer of the right size stands in
    g.backend.groupNormBackward(sx!.buffer, sg!.buffer, (sb ?? sg)!.buffer, sm!.buffer, sr!.buffer, g.buffer, gx.buffer, gg.buffer, gbt.buffer, p);
    return [gx, gg, gbt];
  });
  // The statistics live on only in the node (if one was recorded).
  meanT.dispose();
  rstdT.dispose();
  return y;
}

/**
 * EDM's self-attention core: qkv [B, C*3, H, W] from the 1x1 qkv conv, `heads` heads; returns [B, C, H, W].
 */
export function attention(qkv: Tensor, heads: number): Tensor {
  // Scores and softmax in float32 whatever the activations' dtype, as EDM's AttentionOp does.
  if (qkv.dtype !== 'float32') return attention(cast(qkv, 'float32'), heads);
  const [bsz, c3, h, w] = qkv.shape;
  if (qkv.ndim !== 4 || c3 % (3 * heads) !== 0) throw new Error(`attention: qkv ${formatShape(qkv.shape)} is not [B, 3*C, H, W] with C divisible by ${heads} heads`);
  const c = c3 / 3;
  const p: AttentionParams = { b: bsz * heads, c: c / heads, l: h * w };
  const out = empty([bsz, c, h, w], 'float32', qkv.backend);
  const weights = empty([p.b, p.l, p.l], 'float32', qkv.backend);
  qkv.backend.attention(qkv.buffer, out.buffer, weights.buffer, p);
  record(out, 'attention', [qkv], [qkv, weights], (g, [sq, sw]) => {
    const gq = empty(sq!.shape, 'float32', g.backend);
    g.backend.attentionBackward(sq!.buffer, sw!.buffer, g.buffer, gq.buffer, p);
    return [gq];
  });
  // [B*heads, L, L]: freed now unless the node saved it.
  weights.dispose();
  return out;
}

/** EDM's depthwise FIR up/down-sampling by 2 (see ResampleParams), of [N, C, H, W] or channels last [N, H, W, C]. */
export function resample(x: Tensor, mode: 'up' | 'down', taps: readonly number[], pad: number, channelsLast = false): Tensor {
  checkFloat('resample', x);
  if (x.ndim !== 4) throw new Error(`resample needs [N, C, H, W] (or [N, H, W, C] channels last), got ${formatShape(x.shape)}`);
  const [n, c, h, w] = channelsLast ? [x.shape[0], x.shape[3], x.shape[1], x.shape[2]] : x.shape;
  const k = taps.length;
  const hOut = mode === 'up' ? (h - 1) * 2 - 2 * pad + k : Math.floor((h + 2 * pad - k) / 2) + 1;
  const wOut = mode === 'up' ? (w - 1) * 2 - 2 * pad + k : Math.floor((w + 2 * pad - k) / 2) + 1;
  const p: ResampleParams = { n, c, h, w, hOut, wOut, mode, taps, pad, channelsLast };
  const xShape = x.shape;
  const y = empty(channelsLast ? [n, hOut, wOut, c] : [n, c, hOut, wOut], x.dtype, x.backend);
  x.backend.resample(x.buffer, y.buffer, p);
  return record(y, 'resample', [x], [], (g) => {
    const gx = empty(xShape, g.dtype, g.backend);
    g.backend.resampleBackward(g.buffer, gx.buffer, p);
    return [gx];
  });
}

/**
 * Inverted dropout: zeroes where the generator's uniform is below p and scales the rest by 1/(1-p). The
 * mask is not stored: backward draws it again from the same stream position.
 */
export function dropout(x: Tensor, p: number, generator: Generator): Tensor {
  if (p <= 0) return x;
  if (p >= 1) throw new Error(`dropout probability must be below 1, got ${p}`);
  checkFloat('dropout', x);
  const { key, counter } = generator.take(x.size);
  const y = empty(x.shape, x.dtype, x.backend);
  x.backend.dropout(x.buffer, y.buffer, x.size, p, key, counter);
  return record(y, 'dropout', [x], [], (g) => {
    const gx = empty(g.shape, g.dtype, g.backend);
    g.backend.dropout(g.buffer, gx.buffer, g.size, p, key, counter);
    return [gx];
  });
}
