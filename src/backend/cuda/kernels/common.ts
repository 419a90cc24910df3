/**
 * CUDA C shared by every kernel module: integer types, 16-bit float conversions (round to nearest even,
 * through PTX so no toolkit header is needed at run time), loads and stores that compute in float whatever
 * the storage type, a grid-stride loop and block reductions.
 *
 * Kernels that take float32 or bfloat16 tensors are written once over the storage type and instantiated
 * per type: `unary_f32`, `unary_bf16`; `binary_bf16_f32_f32` (operand, operand, output types).
 */
import type { DType } from '../../../base/dtype.js';

/** Name suffix and CUDA C type of each storage type a float kernel is instantiated for. */
export type FloatSuffix = 'f32' | 'bf16';
export const FLOAT_TYPES: readonly (readonly [FloatSuffix, string])[] = [['f32', 'float'], ['bf16', 'bf16']];

export function floatSuffix(dtype: DType, what: string): FloatSuffix {
  if (dtype === 'float32') return 'f32';
  if (dtype === 'bfloat16') return 'bf16';
  throw new Error(`${what} takes float32 or bfloat16 tensors, got ${dtype}`);
}

/** Every n-tuple of storage types, for kernels with several tensor parameters. */
export function floatTuples(n: number): (readonly [FloatSuffix, string])[][] {
  if (n === 0) return [[]];
  return floatTuples(n - 1).flatMap((rest) => FLOAT_TYPES.map((t) => [t, ...rest]));
}

export const COMMON = String.raw`
#define NEG_INF __int_as_float(0xff800000)
typedef long long i64;
typedef unsigned long long u64;
typedef unsigned int u32;
typedef unsigned short u16;

__device__ __forceinline__ float bf2f(u16 b) { return __uint_as_float(((u32)b) << 16); }
__device__ __forceinline__ u16 f2bf(float f) { u16 r; asm("cvt.rn.bf16.f32 %0, %1;" : "=h"(r) : "f"(f)); return r; }
__device__ __forceinline__ float h2f(u16 h) { float f; asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h)); return f; }
__device__ __forceinline__ u16 f2h(float f) { u16 r; asm("cvt.rn.f16.f32 %0, %1;" : "=h"(r) : "f"(f)); return r; }

// bfloat16 storage; arithmetic is in float.
struct bf16 { u16 v; };
__device__ __forceinline__ float ld(const float* p, i64 i) { return p[i]; }
__device__ __forceinline__ float ld(const bf16* p, i64 i) { return bf2f(p[i].v); }
__device__ __forceinline__ void st(float* p, i64 i, float v) { p[i] = v; }
__device__ __forceinline__ void st(bf16* p, i64 i, float v) { p[i].v = f2bf(v); }

// Eight consecutive elements as floats: one 16-byte access for bf16, two for float.
__device__ __forceinline__ void ld8(const float* p, i64 i, float* v) {
  const float4 a = *(const float4*)(p + i), b = *(const float4*)(p + i + 4);
  v[0] = a.x; v[1] = a.y; v[2] = a.z; v[3] = a.w; v[4] = b.x; v[5] = b.y; v[6] = b.z; v[7] = b.w;
}
__device__ __forceinline__ void ld8(const bf16* p, i64 i, float* v) {
  const uint4 a = *(const uint4*)(p + i);
  const u32 w[4] = {a.x, a.y, a.z, a.w};
  #pragma unroll
  for (int k = 0; k < 4; ++k) { v[2 * k] = __uint_as_float(w[k] << 16); v[2 * k + 1] = __uint_as_float(w[k] & 0xffff0000u); }
}
__device__ __forceinline__ void st8(float* p, i64 i, const float* v) {
  *(float4*)(p + i) = make_float4(v[0], v[1], v[2], v[3]);
  *(float4*)(p + i + 4) = make_float4(v[4], v[5], v[6], v[7]);
}
__device__ __forceinline__ void st8(bf16* p, i64 i, const float* v) {
  u32 w[4];
  #pragma unroll
  for (int k = 0; k < 4; ++k) w[k] = (u32)f2bf(v[2 * k]) | ((u32)f2bf(v[2 * k + 1]) << 16);
  *(uint4*)(p + i) = make_uint4(w[0], w[1], w[2], w[3]);
}
// w elements (8, or 1 for the tail) starting at i.
template <class T> __device__ __forceinline__ void ldn(const T* p, i64 i, int w, float* v) { if (w == 8) ld8(p, i, v); else v[0] = ld(p, i); }
template <class T> __device__ __forceinline__ void stn(T* p, i64 i, int w, const float* v) { if (w == 8) st8(p, i, v); else st(p, i, v[0]); }
__device__ __forceinline__ bool aligned16(const void* p) { return ((u64)p & 15) == 0; }

// Dense elementwise work over [0, n): f(i, 8) on groups of eight where every pointer is 16-byte aligned
// (wide loads keep enough bytes in flight to approach the memory bandwidth), f(i, 1) on the rest.
template <class F> __device__ __forceinline__ void forEach8(i64 n, bool aligned, F f) {
  const i64 tid = (i64)blockIdx.x * blockDim.x + threadIdx.x, stride = (i64)gridDim.x * blockDim.x;
  const i64 groups = aligned ? n / 8 : 0;
  for (i64 g = tid; g < groups; g += stride) f(g * 8, 8);
  for (i64 i = groups * 8 + tid; i < n; i += stride) f(i, 1);
}

#define GRID_STRIDE(i, n) for (i64 i = (i64)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (i64)gridDim.x * blockDim.x)

// Sum over the block; every thread gets the result. blockDim.x is a multiple of 32, at most 1024.
template <typename T>
__device__ __forceinline__ T blockSum(T v, T* shared) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : (T)0;
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__device__ __forceinline__ float blockMax(float v, float* shared) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  v = lane < warps ? shared[lane] : NEG_INF;
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
`;
