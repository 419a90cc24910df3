/**
 * Output files that never end half-written: paths checked before any work (a missing folder fails in a
 * second, not after an hour of sampling), bytes written to a temporary name beside the target, flushed and
 * renamed over it, and every I/O error naming the file (a full disk says so instead of a bare ENOSPC).
 */
import { accessSync, closeSync, constants, fsyncSync, mkdirSync, openSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** An I/O error as a sentence: the file, what failed, and for the usual causes what to do. */
export function ioError(path: string, action: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  const hints: Record<string, string> = {
    ENOSPC: 'the disk is full: free space and run again',
    EDQUOT: 'the disk quota is used up: free space and run again',
    EACCES: 'permission denied',
    EROFS: 'the file system is read-only',
    ENOENT: 'the folder does not exist',
    ENOTDIR: 'a part of the path is not a folder',
    EISDIR: 'it is a folder',
  };
  const hint = err?.code && hints[err.code] ? `${hints[err.code]} (${err.code})` : (err?.message ?? String(e));
  return new Error(`${path}: cannot ${action}: ${hint}`);
}

function requireWritableFolder(folder: string, forPath: string): void {
  let isDir: boolean;
  try {
    isDir = statSync(folder).isDirectory();
  } catch {
    throw new Error(`${forPath}: the folder ${folder} does not exist; create it first`);
  }
  if (!isDir) throw new Error(`${forPath}: ${folder} is not a folder`);
  try {
    accessSync(folder, constants.W_OK);
  } catch {
    throw new Error(`${forPath}: the folder ${folder} is not writable`);
  }
}

/** Fails unless `path` can be written as a file: its folder exists and is writable, and it is not a folder. */
export function checkOutputFile(path: string): void {
  requireWritableFolder(dirname(resolve(path)), path);
  let isDir = false;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // not there yet: the usual case
  }
  if (isDir) throw new Error(`${path}: is a folder, expected a file name`);
}

/** Fails unless `path` is a writable folder or can be created as one (its parent exists). */
export function checkOutputFolder(path: string): void {
  let isDir: boolean | null = null;
  try {
    isDir = statSync(path).isDirectory();
  } catch {
    // not there yet: it will be created in its parent
  }
  if (isDir === false) throw new Error(`${path}: exists and is not a folder`);
  requireWritableFolder(isDir ? path : dirname(resolve(path)), path);
}

/** Creates the folder `path` (its parent must exist: checkOutputFolder). */
export function makeOutputFolder(path: string): void {
  try {
    mkdirSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw ioError(path, 'create the folder', e);
  }
}

/**
 * A file being written: bytes go to `PATH.tmp-PID` (appended, or at a position for headers patched
 * afterwards); commit() flushes and renames it to PATH, abort() removes it. Errors name PATH.
 */
export class AtomicFile {
  private fd: number | null;
  private readonly tmp: string;
  /** Bytes appended so far. */
  length = 0;

  constructor(readonly path: string) {
    this.tmp = `${path}.tmp-${process.pid}`;
    try {
      this.fd = openSync(this.tmp, 'w');
    } catch (e) {
      throw ioError(path, 'create the file', e);
    }
  }

  append(bytes: Uint8Array): void {
    this.writeAt(bytes, this.length);
    this.length += bytes.length;
  }

  /** Overwrites bytes already appended (a header whose checksum is known only at the end). */
  writeAt(bytes: Uint8Array, position: number): void {
    try {
      for (let done = 0; done < bytes.length; ) done += writeSync(this.open(), bytes, done, bytes.length - done, position + done);
    } catch (e) {
      this.abort();
      throw ioError(this.path, 'write', e);
    }
  }

  commit(): void {
    try {
      fsyncSync(this.open());
      closeSync(this.open());
      this.fd = null;
      renameSync(this.tmp, this.path);
    } catch (e) {
      this.abort();
      throw ioError(this.path, 'write', e);
    }
  }

  /** Removes the temporary file; the target is untouched. Safe to call more than once. */
  abort(): void {
    if (this.fd !== null) {
      try {
        closeSync(this.fd);
      } catch {
        // closing a descriptor whose writes failed: nothing more to lose
      }
      this.fd = null;
    }
    try {
      unlinkSync(this.tmp);
    } catch {
      // already renamed or removed
    }
  }

  private open(): number {
    if (this.fd === null) throw new Error(`${this.path}: internal: written after commit or abort`);
    return this.fd;
  }
}

/** Writes `bytes` to `path` through a temporary file and a rename. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const file = new AtomicFile(path);
  file.append(typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes);
  file.commit();
}
