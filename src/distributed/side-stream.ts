/**
 * A second CUDA stream beside the backend's, for NCCL: the gradient sums run on it while the backend's
 * stream goes on with the backward pass. Events order the two where they meet: a sum starts after the
 * kernels that made its gradients, and what reads the sums (the optimizer) starts after them. The host
 * never waits for either.
 */
import { type Driver, type Handle, check, loadDriver } from '../backend/cuda/driver.js';
import { openLibrary } from '../backend/cuda/libs.js';

type Fn = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

/** CU_STREAM_NON_BLOCKING, as the backend's stream; CU_EVENT_DISABLE_TIMING: events only order work. */
const NON_BLOCKING = 1;
const DISABLE_TIMING = 2;

let waitEvent: Fn | null = null;
let destroyStream: Fn | null = null;

export class SideStream {
  readonly stream: Handle;
  /** Recorded on the main stream; the side stream waits for it. */
  private readonly mainReached: Handle;
  /** Recorded on the side stream; the main stream waits for it. */
  private readonly sideReached: Handle;
  private readonly d: Driver;

  /** A new stream in the current context (the backend's), beside `main`. */
  constructor(private readonly main: Handle) {
    this.d = loadDriver();
    const { lib } = openLibrary('cuda');
    waitEvent ??= lib.func('int cuStreamWaitEvent(void *stream, void *event, unsigned int flags)') as Fn;
    destroyStream ??= lib.func('int cuStreamDestroy_v2(void *stream)') as Fn;
    const out: unknown[] = [null];
    check(this.d, this.d.cuStreamCreate(out, NON_BLOCKING), 'cuStreamCreate (NCCL stream)');
    this.stream = out[0];
    this.mainReached = this.event();
    this.sideReached = this.event();
  }

  /** Work queued on the side stream from now on runs after all work queued on the main stream so far. */
  followMain(): void {
    check(this.d, this.d.cuEventRecord(this.mainReached, this.main), 'cuEventRecord (main stream)');
    check(this.d, waitEvent!(this.stream, this.mainReached, 0), 'cuStreamWaitEvent (NCCL stream)');
  }

  /** Work queued on the main stream from now on runs after all work queued on the side stream so far. */
  joinMain(): void {
    check(this.d, this.d.cuEventRecord(this.sideReached, this.stream), 'cuEventRecord (NCCL stream)');
    check(this.d, waitEvent!(this.main, this.sideReached, 0), 'cuStreamWaitEvent (main stream)');
  }

  /** Waits for the side stream's work, then releases the stream and its events. */
  destroy(): void {
    check(this.d, this.d.cuStreamSynchronize(this.stream), 'cuStreamSynchronize (NCCL stream)');
    check(this.d, this.d.cuEventDestroy(this.mainReached), 'cuEventDestroy');
    check(this.d, this.d.cuEventDestroy(this.sideReached), 'cuEventDestroy');
    check(this.d, destroyStream!(this.stream), 'cuStreamDestroy');
  }

  private event(): Handle {
    const out: unknown[] = [null];
    check(this.d, this.d.cuEventCreate(out, DISABLE_TIMING), 'cuEventCreate');
    return out[0];
  }
}
