/** The FIR resampling of the U-Nets' up/down blocks (and its backward, the same filter the other way). */
import type { ResampleParams } from '../backend.js';
import type { CudaBuffer } from './allocator.js';
import type { Launcher } from './launcher.js';
import { sameFloat } from './operands.js';
import { FIR, MAX_TAPS, RESAMPLE } from './kernels/resample.js';

/**
 * Filters src [planes, inH, inW] into dst [planes, outH, outW] (channels last: [n, inH, inW, c] into
 * [n, outH, outW, c]); `expand`: stride-2 transposed (up, or down's backward), else decimating.
 */
export function fir(l: Launcher, src: CudaBuffer, inH: number, inW: number, dst: CudaBuffer, outH: number, outW: number, expand: boolean, p: ResampleParams): void {
  if (p.taps.length > MAX_TAPS) throw new Error(`resample: at most ${MAX_TAPS} taps, got ${p.taps.length}`);
  const tapSum = p.taps.reduce((s, t) => s + t, 0);
  const s = FIR.pack({ taps: p.taps, k: p.taps.length, pad: p.pad, expand: expand ? 1 : 0, scale: (p.mode === 'up' ? 4 : 1) / (tapSum * tapSum) });
  const planes = p.n * p.c;
  const n = planes * outH * outW;
  if (n > 0) l.kernel(RESAMPLE, `fir2d_${sameFloat('resample', src, dst)}`).launch(l.grid(n), 256, 0, [src.ptr, inH, inW, dst.ptr, outH, outW, planes, p.channelsLast ? p.c : 0, s], () => `resample ${p.mode} of [${p.n}, ${p.c}, ${p.h}, ${p.w}]${p.channelsLast ? ' channels last' : ''}`);
}
