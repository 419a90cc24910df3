/**
 * Worker threads for the CPU kernels. The Backend interface is synchronous, so a kernel splits its work
 * into numbered chunks, posts the chunk range to the workers, runs chunks itself, and blocks in
 * Atomics.wait until every chunk is done. Chunks are claimed one at a time from a shared counter, so a
 * busy or slow (or still starting) worker just takes fewer of them.
 *
 * Results never depend on the thread count: a kernel's chunks write disjoint outputs, and each chunk
 * computes its outputs exactly as a single thread would (same operations, same summation order); only
 * who runs a chunk varies. Workers see the caller's arrays through SharedArrayBuffer memory (see
 * buffer.ts), so arguments holding any unshared typed array run on the calling thread alone.
 *
 * Threads: STAGEDIFF_CPU_THREADS, else os.availableParallelism(); 1 starts no workers. Workers start on
 * the first call big enough to split, are unref'd (they never keep the process alive) and die with it.
 */
import { availableParallelism } from 'node:os';
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';

/** Runs chunk `chunk` of a kernel; any thread may run any chunk. */
export type ChunkRunner<A> = (args: A, chunk: number) => void;

export interface ParallelTask<A> {
  readonly name: string;
  readonly run: ChunkRunner<A>;
}

/**
 * Multiply-adds (or element operations of comparable cost) below which a kernel runs on the calling
 * thread. Split over two threads of an idle 2-core machine, a matrix product of 2^18 multiply-adds took
 * 0.155 ms against 0.14 ms on one thread (waking a worker and waiting for it cost about that much), one of
 * 2^19 0.23 ms against 0.265 ms, and one of 2^21 0.63 ms against 1.0 ms. At 2^19 the quickstart's
 * memory-bound kernels split too (group norm, resampling: the worker reads what the calling thread just
 * wrote, from the other core's cache) and lost: its training loop on two threads ran 352-362 images/s at
 * 2^19 and 406-411 at 2^21 (oneDNN convolutions; 218-233 and 239-241 with the WebAssembly ones).
 */
const MIN_PARALLEL_WORK = 1 << 21;
let minParallelWork = MIN_PARALLEL_WORK;

/**
 * Chunks per thread for kernels free to choose their split: more than one, so a thread that wakes late or
 * loses its core for a while leaves its later chunks to the others instead of holding everyone up; few,
 * because each chunk re-packs the operand it shares with the others. On an idle 2-core machine, two per
 * thread rather than one took a 128^3 matrix product from 0.84 to 0.63 ms and cost big kernels up to 3%.
 */
const CHUNKS_PER_THREAD = 2;

// The per-call control block shared with the workers: the next chunk to claim, chunks finished, and
// whether a chunk threw (then the remaining chunks are skipped).
const NEXT = 0;
const DONE = 1;
const FAILED = 2;

interface TaskMessage {
  task: string;
  args: unknown;
  chunks: number;
  control: Int32Array;
}

/** What a worker is started with. */
export interface WorkerData {
  /** Where the worker reports a failed chunk's error; the main thread reads it with receiveMessageOnPort. */
  errors: MessagePort;
  /** The main thread's count of chunks run by workers. */
  chunkCount: Int32Array;
  /** Incremented (and notified) by the main thread after each call it posts: wakes a lingering worker. */
  doorbell: Int32Array;
}

interface PoolWorker {
  worker: Worker;
  /** The worker posts a failed chunk's error here; read synchronously with receiveMessageOnPort. */
  errors: MessagePort;
}

const tasks = new Map<string, ChunkRunner<never>>();

/** Registers a kernel's chunk runner under a name the workers know it by (every worker loads the same modules). */
export function parallelTask<A>(name: string, run: ChunkRunner<A>): ParallelTask<A> {
  if (tasks.has(name)) throw new Error(`parallel task "${name}" is defined twice`);
  tasks.set(name, run as ChunkRunner<never>);
  return { name, run };
}

/** The count asked for: setCpuThreadCount's, else STAGEDIFF_CPU_THREADS, else one per core; read on first use. */
let requestedThreads: number | null = null;
/** The running workers: null until a call first splits (and again after the count changes). */
let workers: PoolWorker[] | null = null;
/** Set while the calling thread runs its share of a parallel call; kernels nested in a chunk run inline. */
let inParallelRegion = false;
/** Set in a worker: its kernels run inline, it has no pool of its own. */
let isPoolWorker = false;
/** Chunks run by workers since the process started, counted by the workers: tests check the pool did work. */
const workerChunkCount = new Int32Array(new SharedArrayBuffer(4));
/** Rung after every posted call (see serveTasks). */
const doorbell = new Int32Array(new SharedArrayBuffer(4));
/** Milliseconds the calling thread spent in calls split over the pool, and waiting in them for workers. */
let parallelMs = 0;
let waitMs = 0;

function threadsFromEnvironment(): number {
  const value = process.env.STAGEDIFF_CPU_THREADS;
  if (value === undefined || value === '') return availableParallelism();
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`STAGEDIFF_CPU_THREADS must be a positive integer, got "${value}"`);
  return n;
}

/** Threads the CPU backend computes with, the calling thread included (fewer than asked if workers failed to start). */
export function cpuThreadCount(): number {
  if (workers !== null) return workers.length + 1;
  requestedThreads ??= threadsFromEnvironment();
  return requestedThreads;
}

/**
 * Sets the thread count, overriding STAGEDIFF_CPU_THREADS (tests compare thread counts in one process).
 * Surplus workers stop; missing ones start with the next parallel call.
 */
export function setCpuThreadCount(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`CPU thread count must be a positive integer, got ${threads}`);
  requestedThreads = threads;
  if (workers !== null && workers.length !== threads - 1) {
    stopWorkers(workers);
    workers = null;
  }
}

/**
 * Sets the work from which a kernel splits (MIN_PARALLEL_WORK unless set; null restores it): the thread
 * tests split small shapes with it, which the results do not depend on.
 */
export function setMinParallelWork(work: number | null): void {
  minParallelWork = work ?? MIN_PARALLEL_WORK;
}

/** Counts of what the pool has done, for tests and diagnostics. */
export function cpuPoolStats(): { threads: number; workers: number; chunksRunByWorkers: number; parallelMs: number; waitMs: number } {
  return { threads: cpuThreadCount(), workers: workers?.length ?? 0, chunksRunByWorkers: Atomics.load(workerChunkCount, 0), parallelMs, waitMs };
}

/**
 * How many threads a kernel of `work` multiply-adds should use: 1 when it is too small to pay for waking
 * workers, or when it runs inside another kernel's chunk (which already has the other threads busy).
 */
export function threadsFor(work: number): number {
  return mayUseWorkers() && work >= minParallelWork ? cpuThreadCount() : 1;
}

/**
 * How many chunks a kernel of `work` multiply-adds should split into: 1 (it runs inline) where one thread
 * should do it all, else CHUNKS_PER_THREAD per thread.
 */
export function chunksFor(work: number): number {
  const threads = threadsFor(work);
  return threads === 1 ? 1 : threads * CHUNKS_PER_THREAD;
}

/** False in a worker, inside a chunk, or when configured for one thread. */
function mayUseWorkers(): boolean {
  return !isPoolWorker && !inParallelRegion && cpuThreadCount() > 1;
}

/**
 * Runs chunks 0..chunks-1 of `task`, over the pool when there is one and every typed array in `args`
 * is shared memory, else on this thread in order. Returns when all are done; rethrows a chunk's error.
 */
export function parallelFor<A>(task: ParallelTask<A>, args: A, chunks: number): void {
  const pool = chunks > 1 && mayUseWorkers() && isShared(args) ? startedWorkers() : [];
  if (pool.length === 0) {
    for (let c = 0; c < chunks; c++) task.run(args, c);
    return;
  }
  const started = performance.now();
  const control = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
  const message: TaskMessage = { task: task.name, args, chunks, control };
  const helpers = pool.slice(0, chunks - 1);
  for (const { worker } of helpers) worker.postMessage(message);
  Atomics.add(doorbell, 0, 1);
  Atomics.notify(doorbell, 0);
  let error: unknown;
  inParallelRegion = true;
  try {
    runChunks(task.run, args, chunks, control, (e) => (error ??= e));
  } finally {
    inParallelRegion = false;
  }
  // Chunks a worker claimed may still be running: wait for all of them before returning (or throwing).
  const waitFrom = performance.now();
  for (let done = Atomics.load(control, DONE); done < chunks; done = Atomics.load(control, DONE)) Atomics.wait(control, DONE, done);
  const end = performance.now();
  waitMs += end - waitFrom;
  parallelMs += end - started;
  if (Atomics.load(control, FAILED) === 0) return;
  const reported: unknown[] = [];
  for (const { errors } of helpers) for (let m = receiveMessageOnPort(errors); m !== undefined; m = receiveMessageOnPort(errors)) reported.push(m.message);
  throw error ?? new Error(`CPU worker failed in ${task.name}: ${String(reported[0] ?? 'unknown error')}`);
}

/**
 * Runs a kernel's `units` independent units (images, batch entries; `work` multiply-adds in all), one unit
 * per chunk over the pool when there are enough of them to keep every thread busy, else one after another
 * on this thread, where each unit may still split its own inner work (a matrix product) over the pool.
 */
export function forEachUnit<A>(task: ParallelTask<A>, args: A, units: number, work: number): void {
  const threads = threadsFor(work);
  if (threads > 1 && units >= threads) parallelFor(task, args, units);
  else for (let u = 0; u < units; u++) task.run(args, u);
}

/**
 * Claims and runs chunks until none are left. A chunk that throws is reported through onError (before it
 * counts as done, so the caller sees the report once its wait ends); the chunks claimed after it are
 * skipped but still counted.
 */
function runChunks(run: ChunkRunner<never>, args: unknown, chunks: number, control: Int32Array, onError: (e: unknown) => void): void {
  for (let c = Atomics.add(control, NEXT, 1); c < chunks; c = Atomics.add(control, NEXT, 1)) {
    try {
      if (Atomics.load(control, FAILED) === 0) run(args as never, c);
    } catch (e) {
      Atomics.store(control, FAILED, 1);
      onError(e);
    }
    if (Atomics.add(control, DONE, 1) === chunks - 1) Atomics.notify(control, DONE);
  }
}

/** Whether every typed array reachable from `value` is backed by a SharedArrayBuffer (a worker would get a copy of any other). */
function isShared(value: unknown): boolean {
  if (ArrayBuffer.isView(value)) return value.buffer instanceof SharedArrayBuffer;
  if (typeof value !== 'object' || value === null) return true;
  return Object.values(value).every(isShared);
}

function startedWorkers(): PoolWorker[] {
  workers ??= startWorkers(cpuThreadCount() - 1);
  return workers;
}

function startWorkers(count: number): PoolWorker[] {
  const started: PoolWorker[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const { port1, port2 } = new MessageChannel();
      const workerData: WorkerData = { errors: port2, chunkCount: workerChunkCount, doorbell };
      // No inherited node options: the worker is one compiled module, and some options stop it from
      // starting at all (--input-type, as `node --input-type=module -e` passes it).
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData, transferList: [port2], execArgv: [] });
      worker.unref();
      port1.unref();
      const entry = { worker, errors: port1 };
      // A worker that fails to load or dies leaves the pool; its unclaimed chunks go to the others.
      const drop = (): void => {
        if (workers !== null) workers = workers.filter((w) => w !== entry);
      };
      worker.on('error', (e) => {
        drop();
        process.emitWarning(`a CPU backend worker thread failed (${e.message}); computing on ${cpuThreadCount()} thread(s)`);
      });
      worker.on('exit', drop);
      started.push(entry);
    }
  } catch {
    // No threads to be had (resource limits): compute on the calling thread alone.
    stopWorkers(started);
    return [];
  }
  return started;
}

function stopWorkers(pool: PoolWorker[]): void {
  for (const { worker, errors } of pool) {
    void worker.terminate();
    errors.close();
  }
}

/**
 * How long a worker that ran a call stays blocked waiting for the next one (Atomics.wait on the doorbell,
 * no CPU used) before it goes back to its event loop. A training step makes hundreds of calls a few
 * hundred microseconds apart; picked up this way, a call's message reaches a worker without the event
 * loop's wake-up (which cost tens of microseconds per call on a busy 2-core machine).
 */
const LINGER_MS = 20;

/** A worker's main loop: runs the chunks it can claim of each posted call. */
export function serveTasks(port: MessagePort, { errors, chunkCount, doorbell }: WorkerData): void {
  isPoolWorker = true;
  const serve = ({ task, args, chunks, control }: TaskMessage): void => {
    const run = tasks.get(task);
    const counted: ChunkRunner<never> = (a, c) => {
      if (run === undefined) throw new Error(`unknown parallel task "${task}"`);
      run(a, c);
      Atomics.add(chunkCount, 0, 1);
    };
    runChunks(counted, args, chunks, control, (e) => errors.postMessage(e instanceof Error ? (e.stack ?? e.message) : String(e)));
  };
  port.on('message', (message: TaskMessage) => {
    serve(message);
    // The calls that follow soon after: the caller rings the doorbell after posting each one.
    for (;;) {
      const rung = Atomics.load(doorbell, 0);
      const next = receiveMessageOnPort(port);
      if (next !== undefined) serve(next.message as TaskMessage);
      else if (Atomics.wait(doorbell, 0, rung, LINGER_MS) === 'timed-out') return;
    }
  });
}
