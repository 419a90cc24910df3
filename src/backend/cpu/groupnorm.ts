/**
 * GroupNorm as PyTorch computes it: per (sample, group) statistics over the group's channels and positions,
 * biased variance, y = (x - mean) * rstd * gamma[c] + beta[c]. A group is one contiguous block of
 * (c / groups) * hw elements in NCHW (a slice below). Sums are taken in float64 (two passes for the variance),
 * in WebAssembly SIMD where the slice allows (groupnorm-simd.ts, which also has their TypeScript twins).
 *
 * Threads (pool.ts): each chunk takes whole slices, SiLU (forward and backward) included, so a slice is
 * read while it is in cache. The backward's dgamma and dbeta, sums over samples, are gathered per slice and
 * channel, then added over the samples in order: the same sums as one thread adding slice after slice.
 */
import type { GroupNormParams } from '../backend.js';
import { unaryBackwardRange, unaryRange } from './elementwise.js';
import { SILU_WORK, affineSiluSlice, affineSiluSliceBackward } from './silu.js';
import { sliceBackward, sliceMoments } from './groupnorm-simd.js';

import { type ParallelTask, chunksFor, parallelFor, parallelTask } from './pool.js';
import { float32Scratch, float64Scratch, sharedFloat64Scratch } from './scratch.js';

const preActivation = float32Scratch();
const preActivationGrad = float32Scratch();
const channelSums = sharedFloat64Scratch();
const channelScales = float64Scratch();
const channelShifts = float64Scratch();

/** Work per element in the pool's units (pool.ts): a few passes, and SiLU's exponential when fused. */
const work = (p: GroupNormParams, passes: number): number => p.n * p.c * p.hw * (passes + (p.silu ? SILU_WORK : 0));

interface Slices {
  /** Slices per chunk. */
  span: number;
  p: GroupNormParams;
}

/** Runs `task` over slices [0, n * groups) in chunks of whole slices. */
function overSlices<A extends Slices>(task: ParallelTask<A>, args: Omit<A, 'span'>, passes: number): void {
  const slices = args.p.n * args.p.groups;
  if (slices === 0) return;
  const span = Math.ceil(slices / chunksFor(work(args.p, passes)));
  parallelFor(task, { ...args, span } as A, Math.ceil(slices / span));
}

const sliceRange = ({ span, p }: Slices, chunk: number): [number, number] => [chunk * span, Math.min(p.n * p.groups, (chunk + 1) * span)];

interface Forward extends Slices {
  x: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  y: Float32Array;
  mean: Float32Array;
  rstd: Float32Array;
}

/** GroupNorm, then SiLU in place when p.silu: the same numbers as the two ops one after the other. */
export function groupNormSilu(x: Float32Array, gamma: Float32Array, beta: Float32Array, y: Float32Array, mean: Float32Array, rstd: Float32Array, p: GroupNormParams): void {
  overSlices(forwardSlices, { x, gamma, beta, y, mean, rstd, p }, 8);
}

const forwardSlices = parallelTask('groupNorm', (a: Forward, chunk: number) => {
  const { x, y, mean, rstd, p } = a;
  const count = (p.c / p.groups) * p.hw;
  const [first, end] = sliceRange(a, chunk);
  for (let s = first; s < end; s++) {
    const start = s * count;
    const { mu, squares } = sliceMoments(x, start, count, p.hw);
    const r = 1 / Math.sqrt(squares / count + p.eps);
    mean[s] = mu;
    rstd[s] = r;
    const { scales, shifts } = sliceAffine(a.gamma, a.beta, mu, r, s, p);
    // In WebAssembly SIMD where the slice allows, else the same numbers here.
    if (affineSiluSlice(x, y, start, p.c / p.groups, p.hw, scales, shifts, p.silu)) continue;
    normalizeSlice(x, scales, shifts, y, start, p);
    if (p.silu) unaryRange('silu', y, y, start, start + count);
  }
});

/** The normalisation of slice s as y = x * scale + shift per channel of its group (float64). */
function sliceAffine(gamma: Float32Array, beta: Float32Array, mu: number, r: number, s: number, p: GroupNormParams): { scales: Float64Array; shifts: Float64Array } {
  const channelsPerGroup = p.c / p.groups;
  const firstChannel = (s % p.groups) * channelsPerGroup;
  const scales = channelScales.take(channelsPerGroup);
  const shifts = channelShifts.take(channelsPerGroup);
  for (let cg = 0; cg < channelsPerGroup; cg++) {
    scales[cg] = r * gamma[firstChannel + cg];
    shifts[cg] = beta[firstChannel + cg] - mu * scales[cg];
  }
  return { scales, shifts };
}

/** y = x * scale + shift over a slice (at `start` in x, at `outStart` in y), channel by channel. */
function normalizeSlice(x: Float32Array, scales: Float64Array, shifts: Float64Array, y: Float32Array, start: number, p: GroupNormParams, outStart = start): void {
  for (let cg = 0; cg < p.c / p.groups; cg++) {
    const scale = scales[cg];
    const shift = shifts[cg];
    const from = start + cg * p.hw;
    const to = outStart + cg * p.hw;
    for (let e = 0; e < p.hw; e++) y[to + e] = x[from + e] * scale + shift;
  }
}

interface Backward extends Slices {
  x: Float32Array;
  gamma: Float32Array;
  beta: Float32Array;
  mean: Float32Array;
  rstd: Float32Array;
  dy: Float32Array;
  dx: Float32Array;
  /** Per sample and channel [n, c]: the sums of dy and of dy * xhat over the channel's positions. */
  dySums: Float64Array;
  dyXhatSums: Float64Array;
}

/**
 * The backward of groupNormSilu. With xhat = (x - mean) * rstd and g = dy * gamma:
 * dx = rstd * (g - mean(g) - xhat * mean(g * xhat)) over the group; dgamma[c] = sum of dy * xhat and
 * dbeta[c] = sum of dy over samples and positions. With SiLU, dy is first taken back through it, at the
 * pre-activation recomputed from the saved statistics.
 */
export function groupNormSiluBackward(x: Float32Array, gamma: Float32Array, beta: Float32Array, mean: Float32Array, rstd: Float32Array, dy: Float32Array, dx: Float32Array, dgamma: Float32Array, dbeta: Float32Array, p: GroupNormParams): void {
  const sums = channelSums.take(2 * p.n * p.c);
  const dySums = sums.subarray(0, p.n * p.c);
  const dyXhatSums = sums.subarray(p.n * p.c, 2 * p.n * p.c);
  overSlices(backwardSlices, { x, gamma, beta, mean, rstd, dy, dx, dySums, dyXhatSums, p }, 16);
  for (let ch = 0; ch < p.c; ch++) {
    let dgammaSum = 0;
    let dbetaSum = 0;
    for (let i = 0; i < p.n; i++) {
      dbetaSum += dySums[i * p.c + ch];
      dgammaSum += dyXhatSums[i * p.c + ch];
    }
    dgamma[ch] = dgammaSum;
    dbeta[ch] = dbetaSum;
  }
}

const backwardSlices = parallelTask('groupNormBackward', (a: Backward, chunk: number) => {
  const { x, gamma, mean, rstd, dx, p } = a;
  const channelsPerGroup = p.c / p.groups;
  const count = channelsPerGroup * p.hw;
  const [first, end] = sliceRange(a, chunk);
  for (let s = first; s < end; s++) {
    const start = s * count;
    const mu = mean[s];
    const r = rstd[s];
    // The gradient at the norm's output, and where it lies (dy itself, or its SiLU backward in scratch).
    let g = a.dy;
    let gStart = start;
    if (p.silu) {
      const { scales, shifts } = sliceAffine(gamma, a.beta, mu, r, s, p);
      gStart = 0;
      const inSimd = affineSiluSliceBackward(x, a.dy, start, channelsPerGroup, p.hw, scales, shifts);
      if (inSimd !== null) g = inSimd;
      else {
        const pre = preActivation.take(count);
        normalizeSlice(x, scales, shifts, pre, start, p, 0);
        g = preActivationGrad.take(count);
        unaryBackwardRange('silu', pre, a.dy.subarray(start, start + count), g, 0, count);
      }
    }
    const firstChannel = (s % p.groups) * channelsPerGroup;
    const sumsOffset = Math.floor(s / p.groups) * p.c + firstChannel;
    sliceBackward({ x, g, gStart, start, channels: channelsPerGroup, hw: p.hw, mu, r, gamma, firstChannel, dx, gSums: a.dySums, gXhatSums: a.dyXhatSums, sumsOffset });
  }
});
