/**
 * Kernels over every tensor of a model in one launch: Adam/AdamW, the EMA of the weights, and for the
 * gradients nan_to_num, the sums of squares of the global norm and the clipping scale. Each takes a device
 * table with one record per tensor (a KernelStruct, so the C text and the host packing come from one
 * definition); blockIdx.y picks the record, the blocks along x stride over its elements. Float32 tensors
 * only (weights, gradients, moments).
 *
 * Same formulas as the CPU references (src/backend/cpu/adam.ts, multi-tensor.ts). Adam's per-step scalars
 * are computed on the host and each element's update in double as the CPU does (memory-bound: double costs
 * nothing), so a single-element tensor agrees to rounding too. The EMA rounds as the CPU's mulScalar,
 * mulScalar and add do (each product in double, rounded to float, then a float sum): bit for bit; so does
 * the clipping scale (affine's rounding). The sums of squares add float squares in double, in a fixed order
 * (each block its slice, then each tensor's slices in turn), so they repeat exactly from run to run.
 */
import type { KernelModule } from '../context.js';
import { COMMON } from './common.js';
import { KernelStruct } from './struct.js';

const pointers = (...names: string[]) => names.map((name) => ({ name, type: 'i64' as const }));

/** Pointers (as 64-bit integers) and the element count of one tensor's Adam step. */
export const ADAM_ENTRY = new KernelStruct('AdamEntry', [...pointers('param', 'grad', 'm', 'v'), { name: 'n', type: 'i64' }]);
/** average <- average * beta + value * (1 - beta) over n elements. */
export const EMA_ENTRY = new KernelStruct('EmaEntry', [...pointers('average', 'value'), { name: 'n', type: 'i64' }]);
/** A tensor of n elements. */
export const SPAN_ENTRY = new KernelStruct('SpanEntry', [...pointers('x'), { name: 'n', type: 'i64' }]);

const SOURCE = COMMON + String.raw`
${ADAM_ENTRY.cText()}
${EMA_ENTRY.cText()}
${SPAN_ENTRY.cText()}

extern "C" __global__ void adam_multi(const AdamEntry* table, double beta1, double beta2, double stepSize, double bc2Sqrt, double eps, double decay) {
  const AdamEntry e = table[blockIdx.y];
  float* p = (float*)e.param;
  const float* g = (const float*)e.grad;
  float* m = (float*)e.m;
  float* v = (float*)e.v;
  GRID_STRIDE(i, e.n) {
    const double gi = g[i];
    const float mi = (float)(beta1 * m[i] + (1.0 - beta1) * gi);
    const float vi = (float)(beta2 * v[i] + (1.0 - beta2) * gi * gi);
    m[i] = mi;
    v[i] = vi;
    p[i] = (float)(p[i] * decay - stepSize * mi / (sqrt((double)vi) / bc2Sqrt + eps));
  }
}

extern "C" __global__ void ema_multi(const EmaEntry* table, double beta, double rest) {
  const EmaEntry e = table[blockIdx.y];
  float* a = (float*)e.average;
  const float* x = (const float*)e.value;
  GRID_STRIDE(i, e.n) a[i] = (float)((double)a[i] * beta + 0.0) + (float)((double)x[i] * rest + 0.0);
}

extern "C" __global__ void nan_to_num_multi(const SpanEntry* table, float posinf, float* found) {
  const SpanEntry e = table[blockIdx.y];
  float* x = (float*)e.x;
  bool replaced = false;
  GRID_STRIDE(i, e.n) {
    const float v = x[i];
    if (v != v) { x[i] = 0.0f; replaced = true; }
    else if (isinf(v)) { x[i] = v > 0.0f ? posinf : -posinf; replaced = true; }
  }
  // every writer writes the same value: no atomics needed
  if (replaced) *found = 1.0f;
}

// partial[y * gridDim.x + x]: the sum over block x's slice of tensor y. Every thread reaches blockSum.
extern "C" __global__ void sum_squares_partial(const SpanEntry* table, double* partial) {
  __shared__ double shared[32];
  const SpanEntry e = table[blockIdx.y];
  const float* x = (const float*)e.x;
  double s = 0.0;
  GRID_STRIDE(i, e.n) {
    const float q = x[i] * x[i];
    s += q;
  }
  s = blockSum(s, shared);
  if (threadIdx.x == 0) partial[(i64)blockIdx.y * gridDim.x + blockIdx.x] = s;
}

extern "C" __global__ void sum_squares_finish(const double* partial, int slices, float* out, int count) {
  GRID_STRIDE(t, count) {
    double s = 0.0;
    for (int k = 0; k < slices; ++k) s += partial[t * slices + k];
    out[t] = (float)s;
  }
}

extern "C" __global__ void scale_multi(const SpanEntry* table, double scale) {
  const SpanEntry e = table[blockIdx.y];
  float* x = (float*)e.x;
  GRID_STRIDE(i, e.n) x[i] = (float)((double)x[i] * scale + 0.0);
}
`;

export const MULTI_TENSOR: KernelModule = {
  name: 'multi-tensor.cu',
  source: SOURCE,
  kernels: {
    adam_multi: ['ptr', 'f64', 'f64', 'f64', 'f64', 'f64', 'f64'],
    ema_multi: ['ptr', 'f64', 'f64'],
    nan_to_num_multi: ['ptr', 'f32', 'ptr'],
    sum_squares_partial: ['ptr', 'ptr'],
    sum_squares_finish: ['ptr', 'i32', 'ptr', 'i32'],
    scale_multi: ['ptr', 'f64'],
  },
};
