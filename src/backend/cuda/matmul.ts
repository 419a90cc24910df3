/**
 * Matrix products through cuBLASLt.
 *
 * The Backend's matmul is row-major: C[b] = alpha op(A[b]) op(B[b]) + beta C[b]. cuBLASLt is column-major,
 * and a row-major matrix read column-major is its transpose, so we ask for C^T = op(B)^T op(A)^T: B is
 * cuBLASLt's first operand and A its second, with the same transpose flags, and no data moves.
 *
 * Precision: float32 operands use CUBLAS_COMPUTE_32F (true fp32, for exact comparison with the CPU) or
 * CUBLAS_COMPUTE_32F_FAST_TF32 in 'tf32' math; bfloat16 operands always accumulate in fp32. The descriptors
 * and the heuristic's algorithm are made once per shape and cached.
 */
import type { MatmulParams } from '../backend.js';
import type { DType } from '../../base/dtype.js';
import { openLibrary } from './libs.js';
import type { CudaContext } from './context.js';
import type { CachingAllocator, CudaBuffer } from './allocator.js';

type Fn = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

const CUBLAS_COMPUTE_32F = 68;
const CUBLAS_COMPUTE_32F_FAST_TF32 = 77;
const CUDA_R_32F = 0;
const CUDA_R_16F = 2;
const CUDA_R_16BF = 14;
const DESC_TRANSA = 3;
const DESC_TRANSB = 4;
const LAYOUT_BATCH_COUNT = 5;
const LAYOUT_STRIDED_BATCH_OFFSET = 6;
const PREF_MAX_WORKSPACE_BYTES = 1;
// cublasLtMatmulHeuristicResult_t: algo (cublasLtMatmulAlgo_t, 8 uint64 = 64 bytes), workspaceSize (size_t),
// state, wavesCount, reserved[4].
const HEURISTIC_RESULT_BYTES = 96;
const HEURISTIC_ALGO_BYTES = 64;
/** workspaceSize follows the algo. */
const HEURISTIC_WORKSPACE_OFFSET = HEURISTIC_ALGO_BYTES;
const WORKSPACE_BYTES = 32 * 1024 * 1024;

export type MathMode = 'fp32' | 'tf32';

interface Plan {
  desc: unknown;
  a: unknown;
  b: unknown;
  c: unknown;
  algo: Buffer;
  workspace: number;
}

function dataType(dtype: DType): number {
  if (dtype === 'float32') return CUDA_R_32F;
  if (dtype === 'bfloat16') return CUDA_R_16BF;
  if (dtype === 'float16') return CUDA_R_16F;
  throw new Error(`matmul does not take ${dtype} operands`);
}

export class Matmul {
  private readonly f: Record<string, Fn> = {};
  private readonly handle: unknown;
  private readonly plans = new Map<string, Plan>();
  private readonly scalars = new Float32Array(2);
  private workspace: CudaBuffer | null = null;

  constructor(
    private readonly ctx: CudaContext,
    private readonly allocator: CachingAllocator,
    private readonly math: MathMode,
  ) {
    const { lib } = openLibrary('cublasLt');
    const def = (name: string, proto: string) => (this.f[name] = lib.func(proto) as Fn);
    def('statusName', 'const char *cublasLtGetStatusName(int status)');
    def('statusString', 'const char *cublasLtGetStatusString(int status)');
    def('create', 'int cublasLtCreate(_Out_ void **handle)');
    def('descCreate', 'int cublasLtMatmulDescCreate(_Out_ void **desc, int computeType, int scaleType)');
    def('descSet', 'int cublasLtMatmulDescSetAttribute(void *desc, int attr, const void *buf, size_t size)');
    def('layoutCreate', 'int cublasLtMatrixLayoutCreate(_Out_ void **layout, int type, uint64_t rows, uint64_t cols, int64_t ld)');
    def('layoutSet', 'int cublasLtMatrixLayoutSetAttribute(void *layout, int attr, const void *buf, size_t size)');
    def('prefCreate', 'int cublasLtMatmulPreferenceCreate(_Out_ void **pref)');
    def('prefSet', 'int cublasLtMatmulPreferenceSetAttribute(void *pref, int attr, const void *buf, size_t size)');
    def('prefDestroy', 'int cublasLtMatmulPreferenceDestroy(void *pref)');
    def('heuristic', 'int cublasLtMatmulAlgoGetHeuristic(void *handle, void *desc, void *a, void *b, void *c, void *d, void *pref, int requested, void *results, _Out_ int *returned)');
    def('matmul', 'int cublasLtMatmul(void *handle, void *desc, const void *alpha, uint64_t A, void *Adesc, uint64_t B, void *Bdesc, const void *beta, uint64_t C, void *Cdesc, uint64_t D, void *Ddesc, const void *algo, uint64_t workspace, size_t workspaceSize, void *stream)');
    const h: unknown[] = [null];
    this.check(this.f.create(h), 'cublasLtCreate', '');
    this.handle = h[0];
  }

  private check(status: number, call: string, what: string): void {
    if (status !== 0) throw new Error(`${call} failed${what ? ` for ${what}` : ''}: ${this.f.statusName(status)} (${this.f.statusString(status)})`);
  }

  run(a: CudaBuffer, b: CudaBuffer, c: CudaBuffer, p: MatmulParams): void {
    const dense = { lda: p.transA ? p.m : p.k, ldb: p.transB ? p.k : p.n, ldc: p.n };
    this.gemm(a.dtype, a.ptr, b.ptr, c.ptr, c.dtype, { ...p, ...dense });
  }

  /**
   * The general form: row-major matrices with explicit row strides (leading dimensions) inside larger
   * buffers, at device addresses `a`, `b`, `c` (attention reads q, k, v in place from the interleaved qkv).
   */
  gemm(dtype: DType, a: number, b: number, c: number, cDtype: DType, p: StridedMatmul): void {
    if (p.m === 0 || p.n === 0 || p.batch === 0) return;
    const plan = this.plan(dtype, dtype, cDtype, p);
    this.scalars[0] = p.alpha;
    this.scalars[1] = p.beta;
    const alpha = this.scalars.subarray(0, 1);
    const beta = this.scalars.subarray(1, 2);
    const ws = this.workspaceFor(plan.workspace);
    // operands swapped: column-major C^T = op(B)^T op(A)^T
    this.check(
      this.f.matmul(this.handle, plan.desc, alpha, b, plan.b, a, plan.a, beta, c, plan.c, c, plan.c, plan.algo, ws, plan.workspace, this.ctx.stream),
      'cublasLtMatmul',
      describe(p, dtype),
    );
  }

  private workspaceFor(bytes: number): number {
    if (bytes === 0) return 0;
    if (!this.workspace || this.workspace.byteLength < bytes) {
      if (this.workspace) this.allocator.release(this.workspace);
      this.workspace = this.allocator.alloc(Math.max(bytes, WORKSPACE_BYTES), 'uint8', Math.max(bytes, WORKSPACE_BYTES));
    }
    return this.workspace.use().ptr;
  }

  private plan(ta: DType, tb: DType, tc: DType, p: StridedMatmul): Plan {
    const key = `${ta},${tb},${tc},${p.batch},${p.m},${p.n},${p.k},${+p.transA},${+p.transB},${p.strideA},${p.strideB},${p.strideC},${p.lda},${p.ldb},${p.ldc}`;
    const cached = this.plans.get(key);
    if (cached) return cached;
    const what = describe(p, ta);
    const compute = ta === 'float32' && tb === 'float32' && this.math === 'fp32' ? CUBLAS_COMPUTE_32F : ta === 'float32' && tb === 'float32' ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    const out: unknown[] = [null];
    this.check(this.f.descCreate(out, compute, CUDA_R_32F), 'cublasLtMatmulDescCreate', what);
    const desc = out[0];
    const i32 = (v: number) => Int32Array.of(v);
    // cuBLASLt's first operand is our B: op(B)^T is B as stored (col-major view) when !transB.
    this.check(this.f.descSet(desc, DESC_TRANSA, i32(p.transB ? 1 : 0), 4), 'cublasLtMatmulDescSetAttribute(TRANSA)', what);
    this.check(this.f.descSet(desc, DESC_TRANSB, i32(p.transA ? 1 : 0), 4), 'cublasLtMatmulDescSetAttribute(TRANSB)', what);
    const layout = (type: DType, rows: number, cols: number, ld: number, stride: number): unknown => {
      const l: unknown[] = [null];
      this.check(this.f.layoutCreate(l, dataType(type), rows, cols, ld), 'cublasLtMatrixLayoutCreate', what);
      if (p.batch > 1) {
        this.check(this.f.layoutSet(l[0], LAYOUT_BATCH_COUNT, i32(p.batch), 4), 'cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)', what);
        this.check(this.f.layoutSet(l[0], LAYOUT_STRIDED_BATCH_OFFSET, BigInt64Array.of(BigInt(stride)), 8), 'cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)', what);
      }
      return l[0];
    };
    // A stored row-major R x C with row stride ld is, column-major, C x R with the same ld: B [k,n] -> n x k,
    // transposed B [n,k] -> k x n, A [m,k] -> k x m, transposed A [k,m] -> m x k, C [m,n] -> n x m.
    const bl = p.transB ? layout(tb, p.k, p.n, p.ldb, p.strideB) : layout(tb, p.n, p.k, p.ldb, p.strideB);
    const al = p.transA ? layout(ta, p.m, p.k, p.lda, p.strideA) : layout(ta, p.k, p.m, p.lda, p.strideA);
    const cl = layout(tc, p.n, p.m, p.ldc, p.strideC);
    const pref: unknown[] = [null];
    this.check(this.f.prefCreate(pref), 'cublasLtMatmulPreferenceCreate', what);
    this.check(this.f.prefSet(pref[0], PREF_MAX_WORKSPACE_BYTES, BigUint64Array.of(BigInt(WORKSPACE_BYTES)), 8), 'cublasLtMatmulPreferenceSetAttribute', what);
    const results = Buffer.alloc(HEURISTIC_RESULT_BYTES);
    const count = [0];
    this.check(this.f.heuristic(this.handle, desc, bl, al, cl, cl, pref[0], 1, results, count), 'cublasLtMatmulAlgoGetHeuristic', what);
    this.f.prefDestroy(pref[0]);
    if (count[0] < 1) throw new Error(`cuBLASLt has no algorithm for ${what}`);
    const plan: Plan = { desc, a: al, b: bl, c: cl, algo: results.subarray(0, HEURISTIC_ALGO_BYTES), workspace: Number(results.readBigUInt64LE(HEURISTIC_WORKSPACE_OFFSET)) };
    this.plans.set(key, plan);
    return plan;
  }
}

/** MatmulParams with the row stride of each operand's stored rows. */
export interface StridedMatmul extends MatmulParams {
  lda: number;
  ldb: number;
  ldc: number;
}

function describe(p: StridedMatmul, dtype: DType): string {
  return `${dtype} matmul batch ${p.batch}: [${p.m}x${p.k}]${p.transA ? ' (A transposed)' : ''} @ [${p.k}x${p.n}]${p.transB ? ' (B transposed)' : ''}, batch strides ${p.strideA}/${p.strideB}/${p.strideC}, row strides ${p.lda}/${p.ldb}/${p.ldc}`;
}
