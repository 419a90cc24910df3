/**
 * The communicator of a rank that trains on a GPU: NCCL collectives on a stream of their own beside the
 * CUDA backend's (side-stream.ts), so a bucket of gradients is summed while the backward pass computes the
 * next ones; the optimizer's kernels, queued after wait(), run after the sums. The host does not wait.
 */
import type { Tensor } from '../tensor/index.js';
import { getBackend } from '../tensor/index.js';
import type { CudaBackend } from '../backend/cuda/index.js';
import { buf } from '../backend/cuda/operands.js';
import type { Communicator, PendingSum } from './communicator.js';
import { NCCL_BFLOAT16, NCCL_FLOAT32, NCCL_FLOAT64, NCCL_SUM, type Nccl, check, loadNccl, uniqueId } from './nccl.js';
import type { RankEnvironment } from './environment.js';
import { rendezvous } from './rendezvous.js';
import { SideStream } from './side-stream.js';

const NCCL_TYPES: Partial<Record<Tensor['dtype'], number>> = { float32: NCCL_FLOAT32, bfloat16: NCCL_BFLOAT16 };

export class NcclCommunicator implements Communicator {
  readonly description: string;
  private comm: unknown;
  private readonly side: SideStream;

  private constructor(
    private readonly n: Nccl,
    private readonly backend: CudaBackend,
    comm: unknown,
    readonly rank: number,
    readonly size: number,
  ) {
    this.comm = comm;
    this.description = `nccl ${n.version} on ${backend.device}`;
    this.side = new SideStream(backend.stream);
  }

  /** Joins the group this process's environment describes: rank 0's unique id through the rendezvous. */
  static async connect(env: RankEnvironment): Promise<NcclCommunicator> {
    const id = await rendezvous(env, () => uniqueId(loadNccl()));
    return NcclCommunicator.join(id, env.rank, env.size);
  }

  /**
   * Joins the group of `size` ranks named by `id` (from rank 0's ncclGetUniqueId); blocks until every rank
   * has joined. The CUDA backend must be the current backend: its GPU is this rank's.
   */
  static join(id: Uint8Array, rank: number, size: number): NcclCommunicator {
    const backend = getBackend();
    if (backend.name !== 'cuda') throw new Error(`NCCL needs the CUDA backend; the current backend is ${backend.name} (train with --device cuda)`);
    const n = loadNccl();
    const comm: unknown[] = [null];
    check(n, n.ncclCommInitRank(comm, size, { internal: id }, rank), `ncclCommInitRank(rank ${rank} of ${size})`);
    return new NcclCommunicator(n, backend as CudaBackend, comm[0], rank, size);
  }

  /** One ncclGroupStart/End over the tensors (NCCL fuses the group), after the kernels queued so far. */
  startAllReduceSum(tensors: readonly Tensor[]): PendingSum {
    const comm = this.live();
    this.side.followMain();
    check(this.n, this.n.ncclGroupStart(), 'ncclGroupStart', comm);
    try {
      for (const t of tensors) {
        const type = NCCL_TYPES[t.dtype];
        if (type === undefined) throw new Error(`startAllReduceSum: float32 or bfloat16 tensors expected, got ${t.dtype}`);
        const ptr = buf(t.buffer).ptr;
        check(this.n, this.n.ncclAllReduce(ptr, ptr, t.size, type, NCCL_SUM, comm, this.side.stream), `ncclAllReduce(${t.size} ${t.dtype})`, comm);
      }
    } finally {
      check(this.n, this.n.ncclGroupEnd(), 'ncclGroupEnd', comm);
    }
    // Waiting orders the backend's stream after every sum started so far (they run in order on one stream).
    return { wait: () => this.side.joinMain() };
  }

  allReduceHostSum(values: Float64Array): Float64Array {
    // No float64 tensors: the values travel as the bytes of an int32 buffer, reduced as ncclFloat64.
    const words = new Int32Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    const b = this.backend;
    const device = b.alloc('int32', words.length);
    try {
      b.upload(device, words);
      const ptr = buf(device).ptr;
      this.side.followMain();
      check(this.n, this.n.ncclAllReduce(ptr, ptr, values.length, NCCL_FLOAT64, NCCL_SUM, this.live(), this.side.stream), 'ncclAllReduce (host values)', this.comm);
      this.side.joinMain();
      const summed = b.download(device, 'int32', words.length) as Int32Array;
      return new Float64Array(summed.slice().buffer, 0, values.length);
    } finally {
      b.free(device);
    }
  }

  abort(): void {
    if (this.comm === null) return;
    const comm = this.comm;
    this.comm = null;
    this.n.ncclCommAbort(comm);
  }

  close(): void {
    if (this.comm === null) return;
    const comm = this.comm;
    this.comm = null;
    // Pending collectives finish first: ncclCommDestroy does not wait for the stream.
    this.backend.synchronize();
    this.side.destroy();
    check(this.n, this.n.ncclCommDestroy(comm), 'ncclCommDestroy');
  }

  private live(): unknown {
    if (this.comm === null) throw new Error('the NCCL communicator was closed');
    return this.comm;
  }
}
