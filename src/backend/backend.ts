/**
 * The narrow interface the tensor core calls. A backend owns memory (opaque buffers) and one function per
 * kernel, forward and backward. Kernels write into outputs the caller allocated (destination passing), so
 * the tensor layer owns allocation and a GPU backend can reuse blocks through its caching allocator.
 *
 * Conventions: every buffer is a dense row-major array of its dtype; shapes are passed explicitly; the
 * float kernels take float32 buffers, and on a backend with autocastDtypes (the GPU's bfloat16 activations)
 * buffers of those too, computing in float32 and storing in each buffer's own dtype; statistics, normalisation
 * parameters and optimizer state are always float32. Index arrays (gather/scatter) are host
 * Int32Arrays: routing decisions are made on the host.
 */
import type { DType, HostArray } from '../base/dtype.js';

/** A block of backend memory. Opaque outside its backend. */
export interface DeviceBuffer {
  readonly byteLength: number;
}

export type UnaryOp =
  | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'sin' | 'cos' | 'tanh'
  | 'sigmoid' | 'silu' | 'square' | 'abs' | 'recip' | 'relu' | 'sign';

export type BinaryOp = 'add' | 'sub' | 'mul' | 'div';

/** A binary op's operand: its buffer and strides over the output shape (0 along broadcast axes). */
export interface StridedOperand {
  buf: DeviceBuffer;
  strides: readonly number[];
}

export interface MatmulParams {
  /** C[b] = alpha * op(A[b]) @ op(B[b]) + beta * C[b]; op(A) is m x k, op(B) is k x n, row-major. */
  batch: number;
  m: number;
  n: number;
  k: number;
  transA: boolean;
  transB: boolean;
  alpha: number;
  beta: number;
  /** Element offsets between consecutive batch matrices; 0 shares one matrix across the batch. */
  strideA: number;
  strideB: number;
  strideC: number;
}

export interface Conv2dParams {
  n: number;
  cIn: number;
  h: number;
  w: number;
  cOut: number;
  kh: number;
  kw: number;
  /** Zero padding above and below (padH) and left and right (padW): a 1x7 kernel keeps the size with (0, 3). */
  padH: number;
  padW: number;
  stride: number;
  hOut: number;
  wOut: number;
  /**
   * Channels-last activations: x is [n, h, w, cIn], y [n, hOut, wOut, cOut] and the filter [cOut, kh, kw, cIn]
   * (cuDNN's NHWC/KRSC); otherwise NCHW and [cOut, cIn, kh, kw].
   */
  channelsLast?: boolean;
}

export interface GroupNormParams {
  n: number;
  c: number;
  /** Spatial size per channel (H*W). */
  hw: number;
  groups: number;
  eps: number;
  /** Applies SiLU to the normalised output (the norm-then-SiLU of every U-Net block, fused). */
  silu: boolean;
  /** x, y, dy and dx are [n, hw, c] (channels last) rather than [n, c, hw]. */
  channelsLast?: boolean;
}

/**
 * Attention as EDM's UNetBlock computes it: `qkv` is [B, C, 3, L] (q, k, v interleaved per channel, as
 * PyTorch's reshape(B, C, 3, L).unbind(2) reads the 1x1 conv output), w = softmax_k(q^T k / sqrt(C)),
 * out[b, c, i] = sum_j w[b, i, j] v[b, c, j]. `weights` [B, L, L] is saved for the backward pass.
 */
export interface AttentionParams {
  b: number;
  c: number;
  l: number;
}

/** [n, c, h, w] in, [n, c, hOut, wOut] out, each of the n*c planes on its own. */
export interface PlanesInOut {
  n: number;
  c: number;
  h: number;
  w: number;
  hOut: number;
  wOut: number;
}

/**
 * Depthwise FIR resampling by 2, EDM's Conv2d with kernel 0: `up` is conv_transpose2d with the separable
 * filter f (x) f * 4 / sum(f)^2, stride 2, padding `pad`; `down` is conv2d with f (x) f / sum(f)^2, stride 2,
 * padding `pad`. `taps` is the 1-D filter before normalisation, e.g. [1,1] or [1,3,3,1].
 */
export interface ResampleParams extends PlanesInOut {
  mode: 'up' | 'down';
  taps: readonly number[];
  pad: number;
  /** [n, h, w, c] in and [n, hOut, wOut, c] out (channels last) rather than planes. */
  channelsLast?: boolean;
}

/**
 * Pooling over kernel x kernel windows at `stride`, with `pad` on every side (inference only: no backward).
 * 'max' ignores the padding (as -infinity); 'avg' divides by the window's positions inside the image
 * (PyTorch's count_include_pad=False).
 */
export interface Pool2dParams extends PlanesInOut {
  mode: 'max' | 'avg';
  kernel: number;
  stride: number;
  pad: number;
}

/**
 * Batch norm in eval form over [N, C, hw] (inference only: no backward): y = (x - mean) / sqrt(var + eps)
 * * gamma + beta per channel, from the running statistics; with `relu`, max(y, 0) in the same pass.
 */
export interface BatchNormParams {
  n: number;
  c: number;
  /** Spatial size per channel (H*W). */
  hw: number;
  eps: number;
  relu: boolean;
}

/**
 * Bilinear resizing of [N, C, H, W] to [N, C, hOut, wOut] as PyTorch's interpolate(mode='bilinear',
 * align_corners=False) with an output size (inference only: no backward): output pixel o reads the input at
 * src = max((o + 0.5) * in / out - 0.5, 0), between floor(src) and the next pixel (the last one repeats).
 */
export interface ResizeParams {
  planes: number;
  h: number;
  w: number;
  hOut: number;
  wOut: number;
}

export interface AdamParams {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** Decoupled (AdamW) weight decay; 0 for plain Adam. */
  weightDecay: number;
  /** 1-based step count for bias correction. */
  step: number;
}

/**
 * The per-step scalars of PyTorch's Adam update, computed once on the host in float64 for every backend:
 * param = param * decay - stepSize * m / (sqrt(v) / bc2Sqrt + eps).
 */
export function adamStepScalars(p: AdamParams): { stepSize: number; bc2Sqrt: number; decay: number } {
  return { stepSize: p.lr / (1 - Math.pow(p.beta1, p.step)), bc2Sqrt: Math.sqrt(1 - Math.pow(p.beta2, p.step)), decay: 1 - p.lr * p.weightDecay };
}

/** One parameter tensor of a multi-tensor Adam step: float32 buffers of `length` elements. */
export interface AdamTensor {
  param: DeviceBuffer;
  grad: DeviceBuffer;
  m: DeviceBuffer;
  v: DeviceBuffer;
  length: number;
}

/** One tensor of an exponential moving average: `average` moves towards `value` (float32, `length` elements). */
export interface EmaPair {
  average: DeviceBuffer;
  value: DeviceBuffer;
  length: number;
}

/** A float32 buffer and how many of its elements a multi-tensor op covers. */
export interface TensorSpan {
  buf: DeviceBuffer;
  length: number;
}

export interface Backend {
  readonly name: 'cpu' | 'cuda';
  /**
   * Reduced-precision dtypes conv2d and matmul take as operands (accumulating in fp32) besides float32;
   * autocast (tensor/engine.ts) uses them. Absent: float32 only.
   */
  readonly autocastDtypes?: readonly DType[];

  // memory
  alloc(dtype: DType, length: number): DeviceBuffer;
  free(buf: DeviceBuffer): void;
  upload(buf: DeviceBuffer, data: HostArray): void;
  download(buf: DeviceBuffer, dtype: DType, length: number): HostArray;
  fill(out: DeviceBuffer, length: number, value: number): void;
  /** Converts between dtypes (float32, bfloat16, float16, int32, uint8), rounding to nearest even. */
  cast(x: DeviceBuffer, xDtype: DType, out: DeviceBuffer, outDtype: DType, length: number): void;
  /**
   * Strided block copy: for r in [0, rows): dst[dstOffset + r*dstStride ..+rowLength] = src[srcOffset + r*srcStride ..].
   * Concat, split and batch slicing are all this.
   */
  copyRows(src: DeviceBuffer, srcOffset: number, srcStride: number, dst: DeviceBuffer, dstOffset: number, dstStride: number, rows: number, rowLength: number): void;

  // elementwise
  unary(op: UnaryOp, x: DeviceBuffer, out: DeviceBuffer, length: number): void;
  /** dx = dy * f'(x). */
  unaryBackward(op: UnaryOp, x: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer, length: number): void;
  /** out = x * scale + shift. */
  affine(x: DeviceBuffer, out: DeviceBuffer, length: number, scale: number, shift: number): void;
  /** out = x ^ exponent (elementwise, float). */
  powScalar(x: DeviceBuffer, out: DeviceBuffer, length: number, exponent: number): void;
  binary(op: BinaryOp, a: StridedOperand, b: StridedOperand, out: DeviceBuffer, outShape: readonly number[]): void;
  /** Sums x of shape `inShape` into `outShape` (same rank, 1 along reduced axes). */
  reduceSum(x: DeviceBuffer, inShape: readonly number[], out: DeviceBuffer, outShape: readonly number[]): void;
  /** Max over the reduced axes, same convention as reduceSum. */
  reduceMax(x: DeviceBuffer, inShape: readonly number[], out: DeviceBuffer, outShape: readonly number[]): void;
  permute(x: DeviceBuffer, inShape: readonly number[], perm: readonly number[], out: DeviceBuffer): void;
  /** out[i] = src[index[i]] for rows of `rowLength` elements. */
  gatherRows(src: DeviceBuffer, index: Int32Array, out: DeviceBuffer, rowLength: number): void;
  /** out[index[i]] += src[i] for rows of `rowLength` elements. */
  scatterAddRows(src: DeviceBuffer, index: Int32Array, out: DeviceBuffer, rowLength: number): void;

  // dense math: operands float32 or one of autocastDtypes, accumulating in float32; the output's dtype is
  // its buffer's (matmul's C, conv2d's y); conv2d's dx and dw have dy's and x's dtype
  matmul(a: DeviceBuffer, b: DeviceBuffer, c: DeviceBuffer, p: MatmulParams): void;
  conv2d(x: DeviceBuffer, w: DeviceBuffer, bias: DeviceBuffer | null, y: DeviceBuffer, p: Conv2dParams): void;
  conv2dBackwardData(dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer, p: Conv2dParams): void;
  conv2dBackwardFilter(x: DeviceBuffer, dy: DeviceBuffer, dw: DeviceBuffer, p: Conv2dParams): void;
  groupNorm(x: DeviceBuffer, gamma: DeviceBuffer, beta: DeviceBuffer, y: DeviceBuffer, mean: DeviceBuffer, rstd: DeviceBuffer, p: GroupNormParams): void;
  /** Needs beta only with p.silu (the pre-activation is recomputed, not saved). */
  groupNormBackward(x: DeviceBuffer, gamma: DeviceBuffer, beta: DeviceBuffer, mean: DeviceBuffer, rstd: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer, dgamma: DeviceBuffer, dbeta: DeviceBuffer, p: GroupNormParams): void;
  attention(qkv: DeviceBuffer, out: DeviceBuffer, weights: DeviceBuffer, p: AttentionParams): void;
  attentionBackward(qkv: DeviceBuffer, weights: DeviceBuffer, dout: DeviceBuffer, dqkv: DeviceBuffer, p: AttentionParams): void;
  resample(x: DeviceBuffer, y: DeviceBuffer, p: ResampleParams): void;
  resampleBackward(dy: DeviceBuffer, dx: DeviceBuffer, p: ResampleParams): void;

  // inference only (the feature networks of evaluation): no backward kernels
  pool2d(x: DeviceBuffer, y: DeviceBuffer, p: Pool2dParams): void;
  /** mean, variance, gamma and beta: float32 [C]. */
  batchNormEval(x: DeviceBuffer, mean: DeviceBuffer, variance: DeviceBuffer, gamma: DeviceBuffer, beta: DeviceBuffer, y: DeviceBuffer, p: BatchNormParams): void;
  resizeBilinear(x: DeviceBuffer, y: DeviceBuffer, p: ResizeParams): void;

  // random numbers: Philox 4x32-10; element i uses counter block (counterOffset + floor(i / 4)), lane i % 4
  randomUniform(out: DeviceBuffer, length: number, key: readonly [number, number], counterOffset: number): void;
  randomNormal(out: DeviceBuffer, length: number, key: readonly [number, number], counterOffset: number): void;
  /**
   * Inverted dropout with the mask drawn from the same stream: out[i] = x[i] / (1 - p) where uniform i
   * (randomUniform's) is >= p, else 0. Applied to the gradient with the same key and counter, it is the
   * backward pass.
   */
  dropout(x: DeviceBuffer, out: DeviceBuffer, length: number, p: number, key: readonly [number, number], counterOffset: number): void;

  // optimizer: each op covers every tensor of a model in one call (one launch on a GPU)
  /** One Adam/AdamW step of every tensor, all at the same step count. */
  adamMany(tensors: readonly AdamTensor[], p: AdamParams): void;
  /**
   * average = fl(average * beta) + fl(value * (1 - beta)), fl() rounding to float32 (the products in
   * float64): the EMA of the weights, as mulScalar, mulScalar and add compute it.
   */
  emaMany(pairs: readonly EmaPair[], beta: number): void;
  /**
   * In place: NaN -> 0, +Inf -> posinf, -Inf -> -posinf (EDM's torch.nan_to_num on gradients); sets
   * found[0] (float32) to 1 when it replaced anything and leaves it as it was otherwise.
   */
  nanToNumMany(tensors: readonly TensorSpan[], posinf: number, found: DeviceBuffer): void;
  /**
   * out[i] (float32) = the sum of the squares of tensor i, each square rounded to float32 and the sum taken
   * in float64 (as sum(square(x)) computes it): the gradient norm's parts.
   */
  sumSquaresMany(tensors: readonly TensorSpan[], out: DeviceBuffer): void;
  /** In place: x = x * scale in every tensor, each product in float64 rounded to float32 (as affine): gradient clipping. */
  scaleMany(tensors: readonly TensorSpan[], scale: number): void;

  /** Waits for queued work (a no-op on the CPU). */
  synchronize(): void;
}
