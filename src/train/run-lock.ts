/**
 * One training process per run folder: a `train.lock` file created exclusively, holding the owner's pid,
 * host and start time. A second process is refused naming the first. A lock whose process is gone (a run
 * killed with kill -9 or by a power cut) is recognised and replaced; a lock from another host cannot be
 * checked and is left to the user.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { openSync, readFileSync, unlinkSync, writeSync, closeSync } from 'node:fs';

export const LOCK_NAME = 'train.lock';

interface LockOwner {
  pid: number;
  host: string;
  started: string;
}

export interface RunLock {
  path: string;
  /** The pid of a dead process whose lock was replaced, if any. */
  replacedStale: number | null;
  release(): void;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: it exists but belongs to another user.
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    const owner = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return Number.isInteger(owner.pid) && typeof owner.host === 'string' ? owner : null;
  } catch {
    // Unreadable or half-written (a process killed between create and write): no owner can be named.
    return null;
  }
}

/** Takes the run folder's lock or throws naming the process that holds it. The folder must exist. */
export function acquireRunLock(dir: string): RunLock {
  const path = join(dir, LOCK_NAME);
  let replacedStale: number | null = null;
  for (let attempt = 0; attempt < 2; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`cannot create the run lock ${path}: ${(e as Error).message}`);
      const owner = readOwner(path);
      const sameHost = owner?.host === hostname();
      if (owner && sameHost && !processAlive(owner.pid)) {
        unlinkSync(path);
        replacedStale = owner.pid;
        continue;
      }
      const who = owner ? `process ${owner.pid} on ${owner.host} (started ${owner.started})` : 'another process (its lock file is unreadable)';
      const what = owner && !sameHost ? 'if that run has ended, delete the lock file' : 'wait for it to finish or stop it; if no such run is going on, delete the lock file';
      throw new Error(`${dir} is being trained by ${who}: ${what} (${path}), or choose another run folder (--run-dir)`);
    }
    const owner: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
    try {
      writeSync(fd, JSON.stringify(owner));
    } finally {
      closeSync(fd);
    }
    let held = true;
    const release = () => {
      if (!held) return;
      held = false;
      process.off('exit', release);
      try {
        unlinkSync(path);
      } catch {
        // the folder was removed meanwhile
      }
    };
    // A run that ends by an uncaught error or process.exit still frees the folder.
    process.on('exit', release);
    return { path, replacedStale, release };
  }
  throw new Error(`${path}: another process keeps recreating the run lock`);
}
