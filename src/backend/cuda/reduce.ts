/**
 * The reduction planner: a sum or max over any set of axes of a dense tensor, as row sums, column sums
 * (the kept axes innermost), one thread or one block per output, or two passes (partial and finish) when
 * few outputs reduce long runs.
 */
import type { DeviceBuffer } from '../backend.js';
import { stridesOf } from '../../base/shape.js';
import type { Launcher } from './launcher.js';
import { fl } from './operands.js';
import { LAYOUT, MAX_RED_DIMS, RED } from './kernels/layout.js';

export function reduce(l: Launcher, isMax: boolean, xb: DeviceBuffer, inShape: readonly number[], ob: DeviceBuffer, outShape: readonly number[]): void {
  const { allocator, grid, kernel: k } = l;
  const x = fl(xb, 'reduce');
  const out = fl(ob, 'reduce');
  // Sums whose innermost axes are reduced start with contiguous row sums (coalesced, vectorised); the
  // rest of the reduction, if any, runs on those float32 partial sums.
  let inner = 1;
  let firstInner = inShape.length;
  while (firstInner > 0 && (inShape[firstInner - 1] === 1 || outShape[firstInner - 1] === 1)) inner *= inShape[--firstInner];
  const rows = inShape.reduce((a, b) => a * b, 1) / inner;
  if (!isMax && inner > 1 && inner < 2 ** 31 && rows >= l.ctx.multiprocessors * 4) {
    const rest = [...inShape.slice(0, firstInner), ...inShape.slice(firstInner).map(() => 1)];
    const done = rest.every((d, a) => d === outShape[a]);
    const partial = done ? null : allocator.alloc(rows * 4, 'float32', rows);
    k(LAYOUT, `row_sum_${x.s}_${partial ? 'f32' : out.s}`).launch(grid(rows * 32), 256, 0, [x.ptr, partial ? partial.ptr : out.ptr, rows, inner]);
    if (partial) {
      reduce(l, false, partial, rest, ob, outShape);
      allocator.release(partial);
    }
    return;
  }
  const types = `${x.s}_${out.s}`;
  const inStrides = stridesOf(inShape);
  const kept: number[][] = [[], []];
  const red: number[][] = [[], []];
  // Consecutive axes of the same kind merge (the input is dense, so they step as one).
  let lastKind: 'k' | 'r' | null = null;
  let kinds = '';
  for (let a = 0; a < inShape.length; a++) {
    if (inShape[a] === 1) continue;
    const kind = outShape[a] === 1 ? 'r' : 'k';
    const [dims, strides] = kind === 'k' ? kept : red;
    if (kind === lastKind) {
      dims[dims.length - 1] *= inShape[a];
      strides[strides.length - 1] = inStrides[a];
    } else {
      dims.push(inShape[a]);
      strides.push(inStrides[a]);
      kinds += kind;
    }
    lastKind = kind;
  }
  if (kept[0].length > MAX_RED_DIMS || red[0].length > MAX_RED_DIMS) throw new Error(`reduce of ${JSON.stringify(inShape)} to ${JSON.stringify(outShape)}: more than ${MAX_RED_DIMS} alternating axis groups`);
  if (!isMax && (kinds === 'rk' || kinds === 'krk') && colSum(l, x, out, kinds === 'krk' ? kept[0][0] : 1, red[0][0], kept[0][kept[0].length - 1])) return;
  const nOut = kept[0].reduce((a, b) => a * b, 1);
  const nRed = red[0].reduce((a, b) => a * b, 1);
  const s = RED.pack({ nk: kept[0].length, nr: red[0].length, kdim: kept[0], kstride: kept[1], rdim: red[0], rstride: red[1] });
  const what = () => `${isMax ? 'max' : 'sum'} of ${JSON.stringify(inShape)} to ${JSON.stringify(outShape)}`;
  const sms = l.ctx.multiprocessors;
  if (nOut < sms * 4 && nRed >= 2048 && nRed < 2 ** 31) {
    // about 8 blocks per multiprocessor, each slice at least 1024 elements long
    const slices = Math.min(Math.ceil(nRed / 1024), Math.ceil((sms * 8) / nOut), 65535);
    const part = allocator.alloc(nOut * slices * 8, 'uint8', nOut * slices * 8);
    k(LAYOUT, `reduce_partial_${types}`).launch([Math.min(nOut, 65535), slices, 1], 256, 0, [x.ptr, part.ptr, nOut, nRed, isMax ? 1 : 0, s], what);
    k(LAYOUT, `reduce_finish_${types}`).launch(grid(nOut), 256, 0, [part.ptr, out.ptr, nOut, slices, isMax ? 1 : 0], what);
    allocator.release(part);
  } else if (nRed >= 256 || nOut < sms * 4) k(LAYOUT, `reduce_block_${types}`).launch(Math.min(nOut, 65535 * 4), 256, 0, [x.ptr, out.ptr, nOut, nRed, isMax ? 1 : 0, s], what);
  else k(LAYOUT, `reduce_thread_${types}`).launch(grid(nOut), 256, 0, [x.ptr, out.ptr, nOut, nRed, isMax ? 1 : 0, s], what);
}

/**
 * Sums [a, r, c] over r where the columns are wide enough for a warp to read contiguous memory (the bias
 * and embedding gradients of channels-last activations; other plans would read each column c apart).
 * Returns false, launching nothing, for narrow columns or short sums.
 */
function colSum(l: Launcher, x: ReturnType<typeof fl>, out: ReturnType<typeof fl>, a: number, r: number, c: number): boolean {
  if (c < 32 || r < 32) return false;
  // about 2048 threads per multiprocessor, each summing at least 32 rows
  const wanted = Math.max(1, Math.min(Math.ceil((l.ctx.multiprocessors * 2048) / (a * c)), Math.ceil(r / 32)));
  const chunk = Math.ceil(r / wanted);
  const slices = Math.ceil(r / chunk);
  const part = l.allocator.alloc(a * slices * c * 4, 'float32', a * slices * c);
  const what = () => `column sums of [${a}, ${r}, ${c}]`;
  l.kernel(LAYOUT, `col_sum_partial_${x.s}_${out.s}`).launch(l.grid(a * slices * c), 256, 0, [x.ptr, part.ptr, a, r, c, slices, chunk], what);
  l.kernel(LAYOUT, `col_sum_finish_${x.s}_${out.s}`).launch(l.grid(a * c * 32), 256, 0, [part.ptr, out.ptr, a, c, slices], what);
  l.allocator.release(part);
  return true;
}
