/**
 * Creating an output folder, refusing the kernel's virtual file systems: Node's recursive mkdir under
 * /proc or /sys never returns (it spins at 100% CPU), and nothing written there would be kept anyway.
 */
import { mkdirSync, statfsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** statfs f_type of the file systems that cannot hold files (linux/magic.h). */
const VIRTUAL_FILE_SYSTEMS: Record<number, string> = { 0x9fa0: 'proc', 0x62656572: 'sysfs' };

/** The virtual file system `path` (or its nearest existing parent) is on, or null for a real one. */
export function virtualFileSystemOf(path: string): string | null {
  for (let p = resolve(path); ; p = dirname(p)) {
    try {
      return VIRTUAL_FILE_SYSTEMS[statfsSync(p).type] ?? null;
    } catch {
      if (p === dirname(p)) return null;
    }
  }
}

/** mkdir -p, with an error naming the folder (`what` says which flag or field it came from). */
export function makeOutputDir(dir: string, what: string): void {
  const fs = virtualFileSystemOf(dir);
  if (fs) throw new Error(`${what}: ${dir} is on the kernel's ${fs} file system, which cannot hold files; choose a folder on a disk`);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    throw new Error(`${what}: cannot create the folder ${dir} (${(e as Error).message})`);
  }
}
