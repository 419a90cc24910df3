/**
 * NCCL (libnccl.so.2) through koffi: the unique id, communicator setup and teardown, all-reduce and
 * groups. Every call's status goes through check(), which names the call and carries NCCL's own text:
 * ncclGetErrorString for the status and ncclGetLastError for the details NCCL logged.
 */
import { type Koffi, koffi, openLibrary } from '../backend/cuda/libs.js';

type Fn = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

export const NCCL_UNIQUE_ID_BYTES = 128;
/** ncclDataType_t and ncclRedOp_t values (nccl.h). */
export const NCCL_FLOAT32 = 7;
export const NCCL_FLOAT64 = 8;
export const NCCL_BFLOAT16 = 9;
export const NCCL_SUM = 0;

export interface Nccl {
  readonly k: Koffi;
  /** "2.28.3" */
  readonly version: string;
  readonly path: string;
  ncclGetUniqueId: Fn;
  ncclCommInitRank: Fn;
  ncclCommDestroy: Fn;
  ncclCommAbort: Fn;
  ncclAllReduce: Fn;
  ncclGroupStart: Fn;
  ncclGroupEnd: Fn;
  ncclGetErrorString: Fn;
  ncclGetLastError: Fn;
}

let nccl: Nccl | null = null;
let uniqueIdDeclared = false;

/** Binds NCCL (throws, saying where it looked, when the library or koffi is missing). */
export function loadNccl(): Nccl {
  if (nccl) return nccl;
  const { lib, path } = openLibrary('nccl');
  const k = koffi()!;
  const f = (proto: string): Fn => lib.func(proto) as Fn;
  // The unique id is passed by value to ncclCommInitRank: a 128-byte struct (koffi names it once per process).
  if (!uniqueIdDeclared) k.struct('ncclUniqueId', { internal: k.array('uint8_t', NCCL_UNIQUE_ID_BYTES, 'Typed') });
  uniqueIdDeclared = true;
  const ncclGetVersion = f('int ncclGetVersion(_Out_ int *version)');
  const v = [0];
  const status = ncclGetVersion(v);
  if (status !== 0) throw new Error(`ncclGetVersion failed with status ${status} (${path})`);
  // NCCL_VERSION(X,Y,Z): X*10000 + Y*100 + Z from 2.9 on.
  const version = `${Math.floor(v[0] / 10000)}.${Math.floor((v[0] % 10000) / 100)}.${v[0] % 100}`;
  nccl = {
    k,
    version,
    path,
    ncclGetUniqueId: f('int ncclGetUniqueId(_Out_ uint8_t *uniqueId)'),
    ncclCommInitRank: f('int ncclCommInitRank(_Out_ void **comm, int nranks, ncclUniqueId commId, int rank)'),
    ncclCommDestroy: f('int ncclCommDestroy(void *comm)'),
    ncclCommAbort: f('int ncclCommAbort(void *comm)'),
    // Device addresses are plain numbers here, as in the driver bindings (driver.ts).
    ncclAllReduce: f('int ncclAllReduce(uint64_t sendbuff, uint64_t recvbuff, size_t count, int datatype, int op, void *comm, void *stream)'),
    ncclGroupStart: f('int ncclGroupStart()'),
    ncclGroupEnd: f('int ncclGroupEnd()'),
    ncclGetErrorString: f('const char *ncclGetErrorString(int result)'),
    ncclGetLastError: f('const char *ncclGetLastError(void *comm)'),
  };
  return nccl;
}

/** A failed NCCL call. */
export class NcclError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'NcclError';
  }
}

/** Throws an NcclError naming `call` with NCCL's text unless status is ncclSuccess. */
export function check(n: Nccl, status: number, call: string, comm: unknown = null): void {
  if (status === 0) return;
  const text = (n.ncclGetErrorString(status) as string | null) ?? `NCCL error ${status}`;
  const last = n.ncclGetLastError(comm) as string | null;
  throw new NcclError(`${call} failed: ${text}${last ? ` (${last.trim()})` : ''}`, status);
}

/** A fresh unique id (on rank 0, which hands it to the others through the rendezvous). */
export function uniqueId(n: Nccl): Uint8Array {
  const id = Buffer.alloc(NCCL_UNIQUE_ID_BYTES);
  check(n, n.ncclGetUniqueId(id), 'ncclGetUniqueId');
  return new Uint8Array(id);
}

/** Whether NCCL can be loaded: its version and path, or why not (for `stagediff info`). Never throws. */
export function probeNccl(): { version: string; path: string } | { missing: string } {
  try {
    const n = loadNccl();
    return { version: n.version, path: n.path };
  } catch (e) {
    return { missing: (e as Error).message };
  }
}
