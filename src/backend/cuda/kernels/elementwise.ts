/**
 * Elementwise kernels: unary ops and their derivatives, affine, pow, broadcasting binary ops,
 * dtype casts; each for float32 and bfloat16 storage (binary ops for every mix of operand and output types),
 * computing in float.
 * Same formulas as src/backend/cpu/elementwise.ts and layout.ts (cast). Memory-bound, so the op is a
 * run-time switch (uniform across the grid) rather than one compiled kernel per op; affine and pow compute
 * in double as the CPU reference does (free in a memory-bound kernel).
 */
import type { BinaryOp, UnaryOp } from '../../backend.js';
import type { DType } from '../../../base/dtype.js';
import type { ArgKind, KernelModule } from '../context.js';
import { COMMON, FLOAT_TYPES, floatTuples } from './common.js';
import { geometryStruct } from './struct.js';

export const UNARY_CODES: Record<UnaryOp, number> = {
  neg: 0, exp: 1, log: 2, sqrt: 3, rsqrt: 4, sin: 5, cos: 6, tanh: 7,
  sigmoid: 8, silu: 9, square: 10, abs: 11, recip: 12, relu: 13, sign: 14,
};

export const BINARY_CODES: Record<BinaryOp, number> = { add: 0, sub: 1, mul: 2, div: 3 };

export const DTYPE_CODES: Record<DType, number> = { float32: 0, bfloat16: 1, float16: 2, int32: 3, uint8: 4 };

/** Broadcast operands' strides over at most MAX_DIMS collapsed output dims. */
export const MAX_DIMS = 6;
export const BCAST = geometryStruct('Bcast', ['nd', 'pad'], ['dim', 'sa', 'sb'], MAX_DIMS);

const SOURCE = COMMON + String.raw`
__device__ __forceinline__ float unaryF(int op, float x) {
  switch (op) {
    case 0: return -x;
    case 1: return expf(x);
    case 2: return logf(x);
    case 3: return sqrtf(x);
    case 4: return 1.0f / sqrtf(x);
    case 5: return sinf(x);
    case 6: return cosf(x);
    case 7: return tanhf(x);
    case 8: return 1.0f / (1.0f + expf(-x));
    case 9: return x / (1.0f + expf(-x));
    case 10: return x * x;
    case 11: return fabsf(x);
    case 12: return 1.0f / x;
    case 13: return x > 0.0f ? x : 0.0f;
    default: return x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x);
  }
}

__device__ __forceinline__ float unaryGrad(int op, float x, float g) {
  switch (op) {
    case 0: return -g;
    case 1: return g * expf(x);
    case 2: return g / x;
    case 3: return g * 0.5f / sqrtf(x);
    case 4: { float r = 1.0f / sqrtf(x); return g * -0.5f * r * r * r; }
    case 5: return g * cosf(x);
    case 6: return -g * sinf(x);
    case 7: { float t = tanhf(x); return g * (1.0f - t * t); }
    case 8: { float s = 1.0f / (1.0f + expf(-x)); return g * s * (1.0f - s); }
    case 9: { float s = 1.0f / (1.0f + expf(-x)); return g * s * (1.0f + x * (1.0f - s)); }
    case 10: return g * 2.0f * x;
    case 11: return g * (x > 0.0f ? 1.0f : (x < 0.0f ? -1.0f : x));
    case 12: return -g / (x * x);
    case 13: return x > 0.0f ? g : 0.0f;
    default: return 0.0f;
  }
}

__device__ __forceinline__ float binaryF(int op, float a, float b) {
  switch (op) {
    case 0: return a + b;
    case 1: return a - b;
    case 2: return a * b;
    default: return a / b;
  }
}

${BCAST.cText()}
`;

/** Kernels over one storage type: unary ops, their derivatives, affine, pow. */
const perType = (S: string, T: string): string => String.raw`
extern "C" __global__ void unary_${S}(const ${T}* x, ${T}* y, i64 n, int op) {
  forEach8(n, aligned16(x) && aligned16(y), [&](i64 i, int w) {
    float v[8];
    ldn(x, i, w, v);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) v[k] = unaryF(op, v[k]);
    stn(y, i, w, v);
  });
}
extern "C" __global__ void unary_backward_${S}(const ${T}* x, const ${T}* dy, ${T}* dx, i64 n, int op) {
  forEach8(n, aligned16(x) && aligned16(dy) && aligned16(dx), [&](i64 i, int w) {
    float v[8], g[8];
    ldn(x, i, w, v);
    ldn(dy, i, w, g);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) v[k] = unaryGrad(op, v[k], g[k]);
    stn(dx, i, w, v);
  });
}
extern "C" __global__ void affine_${S}(const ${T}* x, ${T}* y, i64 n, double scale, double shift) {
  forEach8(n, aligned16(x) && aligned16(y), [&](i64 i, int w) {
    float v[8];
    ldn(x, i, w, v);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) v[k] = (float)((double)v[k] * scale + shift);
    stn(y, i, w, v);
  });
}
extern "C" __global__ void pow_${S}(const ${T}* x, ${T}* y, i64 n, double e) {
  GRID_STRIDE(i, n) st(y, i, (float)pow((double)ld(x, i), e));
}
`;

/** Binary ops for operand types A, B and output type O; the name lists the three. */
const perTriple = ([SA, TA]: readonly string[], [SB, TB]: readonly string[], [SO, TO]: readonly string[]): string => String.raw`
extern "C" __global__ void binary_dense_${SA}_${SB}_${SO}(const ${TA}* a, const ${TB}* b, ${TO}* out, i64 n, int op) {
  forEach8(n, aligned16(a) && aligned16(b) && aligned16(out), [&](i64 i, int w) {
    float u[8], v[8];
    ldn(a, i, w, u);
    ldn(b, i, w, v);
    #pragma unroll
    for (int k = 0; k < 8; ++k) if (k < w) u[k] = binaryF(op, u[k], v[k]);
    stn(out, i, w, u);
  });
}
extern "C" __global__ void binary_${SA}_${SB}_${SO}(const ${TA}* a, const ${TB}* b, ${TO}* out, i64 n, int op, Bcast s) {
  GRID_STRIDE(i, n) {
    i64 r = i, ia = 0, ib = 0;
    for (int d = s.nd - 1; d >= 0; --d) {
      const i64 q = r / s.dim[d];
      const i64 c = r - q * s.dim[d];
      ia += c * s.sa[d];
      ib += c * s.sb[d];
      r = q;
    }
    st(out, i, binaryF(op, ld(a, ia), ld(b, ib)));
  }
}
`;

/** The common casts, float32 <-> bfloat16, without the general cast's per-element type switch. */
const floatCast = ([SX, TX]: readonly string[], [SY, TY]: readonly string[]): string => SX === SY ? '' : String.raw`
extern "C" __global__ void cast_${SX}_${SY}(const ${TX}* x, ${TY}* y, i64 n) {
  forEach8(n, aligned16(x) && aligned16(y), [&](i64 i, int w) {
    float v[8];
    ldn(x, i, w, v);
    stn(y, i, w, v);
  });
}
`;

const CAST = String.raw`
__device__ __forceinline__ double loadAs(const void* p, int t, i64 i) {
  switch (t) {
    case 0: return ((const float*)p)[i];
    case 1: return bf2f(((const u16*)p)[i]);
    case 2: return h2f(((const u16*)p)[i]);
    case 3: return ((const int*)p)[i];
    default: return ((const unsigned char*)p)[i];
  }
}

extern "C" __global__ void cast(const void* x, int xt, void* y, int yt, i64 n) {
  GRID_STRIDE(i, n) {
    const double v = loadAs(x, xt, i);
    switch (yt) {
      case 0: ((float*)y)[i] = (float)v; break;
      case 1: ((u16*)y)[i] = f2bf((float)v); break;
      case 2: ((u16*)y)[i] = f2h((float)v); break;
      case 3: ((int*)y)[i] = (int)trunc(v); break;
      default: ((unsigned char*)y)[i] = (unsigned char)fmin(255.0, fmax(0.0, floor(v + 0.5))); break;
    }
  }
}
`;

const kernels: Record<string, readonly ArgKind[]> = { cast: ['ptr', 'i32', 'ptr', 'i32', 'i64'] };
for (const [S] of FLOAT_TYPES) {
  kernels[`unary_${S}`] = ['ptr', 'ptr', 'i64', 'i32'];
  kernels[`unary_backward_${S}`] = ['ptr', 'ptr', 'ptr', 'i64', 'i32'];
  kernels[`affine_${S}`] = ['ptr', 'ptr', 'i64', 'f64', 'f64'];
  kernels[`pow_${S}`] = ['ptr', 'ptr', 'i64', 'f64'];
}
for (const [[SA], [SB], [SO]] of floatTuples(3)) {
  kernels[`binary_dense_${SA}_${SB}_${SO}`] = ['ptr', 'ptr', 'ptr', 'i64', 'i32'];
  kernels[`binary_${SA}_${SB}_${SO}`] = ['ptr', 'ptr', 'ptr', 'i64', 'i32', { bytes: BCAST.bytes }];
}
for (const [[SX], [SY]] of floatTuples(2)) if (SX !== SY) kernels[`cast_${SX}_${SY}`] = ['ptr', 'ptr', 'i64'];

export const ELEMENTWISE: KernelModule = {
  name: 'elementwise.cu',
  source:
    SOURCE +
    FLOAT_TYPES.map(([S, T]) => perType(S, T)).join('') +
    floatTuples(3).map(([a, b, o]) => perTriple(a, b, o)).join('') +
    floatTuples(2).map(([x, y]) => floatCast(x, y)).join('') +
    CAST,
  kernels,
};
