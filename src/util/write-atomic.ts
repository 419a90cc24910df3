import { renameSync, unlinkSync, writeFileSync } from 'node:fs';

/**
 * Writes a file under a temporary name beside it, then renames it into place: a reader (or a killed
 * writer) never sees a half-written file. Errors name the file.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // nothing was left behind
    }
    throw new Error(`could not write ${path}: ${(e as Error).message}`);
  }
}
