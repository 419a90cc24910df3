/**
 * Layout and reduction kernels: sum/max over axes, permute, strided row copies, gather and scatter-add of
 * batch rows. Same semantics as src/backend/cpu/layout.ts. Copies work on raw elements of 1, 2 or 4 bytes,
 * so they serve every dtype. Reductions read float32 or bfloat16 and write either; sums accumulate in double,
 * as the CPU reference does.
 */
import type { ArgKind, KernelModule } from '../context.js';
import { COMMON, floatTuples } from './common.js';
import { geometryStruct } from './struct.js';

/** Reduction geometry: kept dims and reduced dims, each with their strides in the input. */
export const MAX_RED_DIMS = 6;
export const RED = geometryStruct('Red', ['nk', 'nr'], ['kdim', 'kstride', 'rdim', 'rstride'], MAX_RED_DIMS);
/** Output dims and the input stride of each. */
export const MAX_PERM_DIMS = 8;
export const PERM = geometryStruct('Perm', ['nd', 'pad'], ['dim', 'stride'], MAX_PERM_DIMS);

const SOURCE = COMMON + String.raw`
${RED.cText()}

__device__ __forceinline__ i64 decode(i64 r, int nd, const i64* dim, const i64* stride) {
  i64 off = 0;
  for (int d = nd - 1; d >= 0; --d) {
    const i64 q = r / dim[d];
    off += (r - q * dim[d]) * stride[d];
    r = q;
  }
  return off;
}

// Few outputs, long reductions (a bias gradient, [N, C, H*W] to [C]): one block per output cannot fill
// the GPU, so gridDim.y blocks each reduce one slice of an output's range into part[o * gridDim.y + slice],
// and reduce_finish combines the slices in order (deterministic, no atomics). The host keeps nRed under
// 2^31, so indices are 32-bit; a thread steps along the innermost reduced axis and decodes the outer
// reduced axes (divisions) only when it wraps past that axis's end.
__device__ __forceinline__ i64 decode_outer(unsigned q, const Red& s) {
  i64 off = 0;
  for (int d = s.nr - 2; d >= 0; --d) {
    const unsigned dim = (unsigned)s.rdim[d];
    const unsigned next = q / dim;
    off += (i64)(q - next * dim) * s.rstride[d];
    q = next;
  }
  return off;
}

`;

/** Reductions reading storage type X (sums in double, max in float) and writing type Y. */
const reductions = ([SX, X]: readonly string[], [SY, Y]: readonly string[]): string => String.raw`
// One block per output element: long reductions.
extern "C" __global__ void reduce_block_${SX}_${SY}(const ${X}* x, ${Y}* out, i64 nOut, i64 nRed, int isMax, Red s) {
  __shared__ double sh[32];
  __shared__ float shf[32];
  for (i64 o = blockIdx.x; o < nOut; o += gridDim.x) {
    const i64 base = decode(o, s.nk, s.kdim, s.kstride);
    if (isMax) {
      float m = NEG_INF;
      for (i64 r = threadIdx.x; r < nRed; r += blockDim.x) { const float v = ld(x, base + decode(r, s.nr, s.rdim, s.rstride)); if (v > m) m = v; }
      m = blockMax(m, shf);
      if (threadIdx.x == 0) st(out, o, m);
    } else {
      double acc = 0.0;
      for (i64 r = threadIdx.x; r < nRed; r += blockDim.x) acc += ld(x, base + decode(r, s.nr, s.rdim, s.rstride));
      acc = blockSum(acc, sh);
      if (threadIdx.x == 0) st(out, o, (float)acc);
    }
  }
}

extern "C" __global__ void reduce_partial_${SX}_${SY}(const ${X}* x, double* part, i64 nOut, i64 nRed, int isMax, Red s) {
  __shared__ double sh[32];
  __shared__ float shf[32];
  const unsigned chunk = (unsigned)((nRed + gridDim.y - 1) / gridDim.y);
  const unsigned lo = blockIdx.y * chunk;
  const unsigned hi = (unsigned)min(nRed, (i64)lo + chunk);
  const unsigned inner = (unsigned)s.rdim[s.nr - 1];
  const i64 innerStride = s.rstride[s.nr - 1];
  for (i64 o = blockIdx.x; o < nOut; o += gridDim.x) {
    const i64 base = decode(o, s.nk, s.kdim, s.kstride);
    double acc = 0.0;
    float m = NEG_INF;
    unsigned r = lo + threadIdx.x;
    unsigned outer = r / inner;
    unsigned i = r - outer * inner;
    i64 outerOff = decode_outer(outer, s);
    for (; r < hi; r += blockDim.x) {
      const float v = ld(x, base + outerOff + (i64)i * innerStride);
      if (isMax) { if (v > m) m = v; } else acc += v;
      i += blockDim.x;
      if (i >= inner) {
        outer += i / inner;
        i %= inner;
        outerOff = decode_outer(outer, s);
      }
    }
    if (isMax) {
      m = blockMax(m, shf);
      if (threadIdx.x == 0) part[o * gridDim.y + blockIdx.y] = m;
    } else {
      acc = blockSum(acc, sh);
      if (threadIdx.x == 0) part[o * gridDim.y + blockIdx.y] = acc;
    }
  }
}

extern "C" __global__ void reduce_finish_${SX}_${SY}(const double* part, ${Y}* out, i64 nOut, i64 slices, int isMax) {
  GRID_STRIDE(o, nOut) {
    double acc = isMax ? part[o * slices] : 0.0;
    for (i64 j = 0; j < slices; ++j) acc = isMax ? fmax(acc, part[o * slices + j]) : acc + part[o * slices + j];
    st(out, o, (float)acc);
  }
}

// Sums of contiguous rows (the reduced axes innermost: [N, C, H*W] to [N, C], the first half of a bias
// gradient): one warp per row, eight elements a load where rows are 16-byte aligned, float partial sums
// per lane combined in double.
extern "C" __global__ void row_sum_${SX}_${SY}(const ${X}* x, ${Y}* out, i64 rows, int len) {
  const i64 warp = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const i64 warps = ((i64)gridDim.x * blockDim.x) >> 5;
  const int lane = threadIdx.x & 31;
  const bool vec = len % 8 == 0 && aligned16(x);
  for (i64 r = warp; r < rows; r += warps) {
    const ${X}* p = x + r * len;
    float acc = 0.0f;
    if (vec) {
      for (int i = lane * 8; i < len; i += 256) {
        float v[8];
        ld8(p, i, v);
        #pragma unroll
        for (int k = 0; k < 8; ++k) acc += v[k];
      }
    } else {
      for (int i = lane; i < len; i += 32) acc += ld(p, i);
    }
    double d = acc;
    for (int o = 16; o > 0; o >>= 1) d += __shfl_xor_sync(0xffffffffu, d, o);
    if (lane == 0) st(out, r, (float)d);
  }
}

// Sums over the middle axis of [a, r, c] with c contiguous, the kept axes innermost (a bias's gradient over
// the pixels of channels-last activations, [N*H*W, C] to [C]; the embedding's, [N, H*W, C] to [N, C]):
// thread i sums rows [slice * chunk, +chunk) of column ci of a's block into part[i] = part[(ai * slices
// + slice) * c + ci]. Neighbouring threads take neighbouring columns, so a warp reads contiguous memory.
extern "C" __global__ void col_sum_partial_${SX}_${SY}(const ${X}* x, float* part, i64 a, i64 r, i64 c, i64 slices, i64 chunk) {
  GRID_STRIDE(i, a * slices * c) {
    const i64 ci = i % c;
    const i64 slice = (i / c) % slices;
    const i64 ai = i / (c * slices);
    const i64 r1 = min(r, (slice + 1) * chunk);
    const ${X}* p = x + ai * r * c + ci;
    float acc = 0.0f;
    #pragma unroll 4
    for (i64 k = slice * chunk; k < r1; ++k) acc += ld(p, k * c);
    part[i] = acc;
  }
}

// The slices of col_sum_partial added up, one warp per output (its lanes take every 32nd slice, then
// combine in a fixed order: deterministic), in double. Thousands of slices per output for a bias
// gradient: one thread per output would wait on each load in turn.
extern "C" __global__ void col_sum_finish_${SX}_${SY}(const float* part, ${Y}* out, i64 a, i64 c, i64 slices) {
  const i64 warp = ((i64)blockIdx.x * blockDim.x + threadIdx.x) >> 5;
  const i64 warps = ((i64)gridDim.x * blockDim.x) >> 5;
  const int lane = threadIdx.x & 31;
  for (i64 o = warp; o < a * c; o += warps) {
    const i64 ci = o % c, ai = o / c;
    double acc = 0.0;
    for (i64 s = lane; s < slices; s += 32) acc += part[(ai * slices + s) * c + ci];
    for (int d = 16; d > 0; d >>= 1) acc += __shfl_xor_sync(0xffffffffu, acc, d);
    if (lane == 0) st(out, o, (float)acc);
  }
}

// One thread per output element: short reductions over many outputs (sums over the batch axis).
extern "C" __global__ void reduce_thread_${SX}_${SY}(const ${X}* x, ${Y}* out, i64 nOut, i64 nRed, int isMax, Red s) {
  GRID_STRIDE(o, nOut) {
    const i64 base = decode(o, s.nk, s.kdim, s.kstride);
    if (isMax) {
      float m = NEG_INF;
      for (i64 r = 0; r < nRed; ++r) { const float v = ld(x, base + decode(r, s.nr, s.rdim, s.rstride)); if (v > m) m = v; }
      st(out, o, m);
    } else {
      double acc = 0.0;
      for (i64 r = 0; r < nRed; ++r) acc += ld(x, base + decode(r, s.nr, s.rdim, s.rstride));
      st(out, o, (float)acc);
    }
  }
}

`;

const COPIES = String.raw`
${PERM.cText()}

#define PERMUTE(NAME, T) \
extern "C" __global__ void NAME(const T* x, T* y, i64 n, Perm p) { \
  GRID_STRIDE(i, n) y[i] = x[decode(i, p.nd, p.dim, p.stride)]; \
}
PERMUTE(permute_4, u32)
PERMUTE(permute_2, u16)
PERMUTE(permute_1, unsigned char)

// y[b, j, i] = x[b, i, j] for x [batch, rows, cols] (NCHW <-> NHWC, a filter to KRSC): one block per 32x32
// tile, staged through shared memory so that both the reads and the writes are contiguous. Block 32 x 8;
// grid (column tiles, row tiles, batch).
#define TRANSPOSE(NAME, T) \
extern "C" __global__ void NAME(const T* x, T* y, i64 rows, i64 cols) { \
  __shared__ T tile[32][33]; \
  const i64 r0 = (i64)blockIdx.y * 32, c0 = (i64)blockIdx.x * 32; \
  const T* xb = x + (i64)blockIdx.z * rows * cols; \
  T* yb = y + (i64)blockIdx.z * rows * cols; \
  for (int k = threadIdx.y; k < 32; k += 8) { \
    const i64 r = r0 + k, c = c0 + threadIdx.x; \
    if (r < rows && c < cols) tile[k][threadIdx.x] = xb[r * cols + c]; \
  } \
  __syncthreads(); \
  for (int k = threadIdx.y; k < 32; k += 8) { \
    const i64 c = c0 + k, r = r0 + threadIdx.x; \
    if (r < rows && c < cols) yb[c * rows + r] = tile[threadIdx.x][k]; \
  } \
}
TRANSPOSE(transpose_4, u32)
TRANSPOSE(transpose_2, u16)

#define COPY_ROWS(NAME, T) \
extern "C" __global__ void NAME(const T* src, i64 srcOffset, i64 srcStride, T* dst, i64 dstOffset, i64 dstStride, i64 rowLength, i64 n) { \
  GRID_STRIDE(i, n) { const i64 r = i / rowLength, j = i - r * rowLength; dst[dstOffset + r * dstStride + j] = src[srcOffset + r * srcStride + j]; } \
}
COPY_ROWS(copy_rows_16, uint4)
COPY_ROWS(copy_rows_4, u32)
COPY_ROWS(copy_rows_2, u16)
COPY_ROWS(copy_rows_1, unsigned char)

#define GATHER_ROWS(NAME, T) \
extern "C" __global__ void NAME(const T* src, const int* index, T* out, i64 rowLength, i64 n) { \
  GRID_STRIDE(i, n) { const i64 r = i / rowLength, j = i - r * rowLength; out[i] = src[(i64)index[r] * rowLength + j]; } \
}
GATHER_ROWS(gather_rows_4, u32)
GATHER_ROWS(gather_rows_2, u16)
GATHER_ROWS(gather_rows_1, unsigned char)

// Atomic: an index may repeat (the gradient of a gather that picked a row twice).
extern "C" __global__ void scatter_add_rows_f32(const float* src, const int* index, float* out, i64 rowLength, i64 n) {
  GRID_STRIDE(i, n) { const i64 r = i / rowLength, j = i - r * rowLength; atomicAdd(out + (i64)index[r] * rowLength + j, src[i]); }
}
`;

const reductionKernels: Record<string, readonly ArgKind[]> = {};
for (const [[SX], [SY]] of floatTuples(2)) {
  for (const kind of ['block', 'thread', 'partial']) reductionKernels[`reduce_${kind}_${SX}_${SY}`] = ['ptr', 'ptr', 'i64', 'i64', 'i32', { bytes: RED.bytes }];
  reductionKernels[`row_sum_${SX}_${SY}`] = ['ptr', 'ptr', 'i64', 'i32'];
  reductionKernels[`reduce_finish_${SX}_${SY}`] = ['ptr', 'ptr', 'i64', 'i64', 'i32'];
  reductionKernels[`col_sum_partial_${SX}_${SY}`] = ['ptr', 'ptr', 'i64', 'i64', 'i64', 'i64', 'i64'];
  reductionKernels[`col_sum_finish_${SX}_${SY}`] = ['ptr', 'ptr', 'i64', 'i64', 'i64'];
}

export const LAYOUT: KernelModule = {
  name: 'layout.cu',
  source: SOURCE + floatTuples(2).map(([x, y]) => reductions(x, y)).join('') + COPIES,
  kernels: {
    ...reductionKernels,
    permute_4: ['ptr', 'ptr', 'i64', { bytes: PERM.bytes }],
    permute_2: ['ptr', 'ptr', 'i64', { bytes: PERM.bytes }],
    permute_1: ['ptr', 'ptr', 'i64', { bytes: PERM.bytes }],
    transpose_4: ['ptr', 'ptr', 'i64', 'i64'],
    transpose_2: ['ptr', 'ptr', 'i64', 'i64'],
    copy_rows_16: ['ptr', 'i64', 'i64', 'ptr', 'i64', 'i64', 'i64', 'i64'],
    copy_rows_4: ['ptr', 'i64', 'i64', 'ptr', 'i64', 'i64', 'i64', 'i64'],
    copy_rows_2: ['ptr', 'i64', 'i64', 'ptr', 'i64', 'i64', 'i64', 'i64'],
    copy_rows_1: ['ptr', 'i64', 'i64', 'ptr', 'i64', 'i64', 'i64', 'i64'],
    gather_rows_4: ['ptr', 'ptr', 'ptr', 'i64', 'i64'],
    gather_rows_2: ['ptr', 'ptr', 'ptr', 'i64', 'i64'],
    gather_rows_1: ['ptr', 'ptr', 'ptr', 'i64', 'i64'],
    scatter_add_rows_f32: ['ptr', 'ptr', 'ptr', 'i64', 'i64'],
  },
};
