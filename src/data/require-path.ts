import { stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';

/**
 * stat() that turns a missing path into a message saying what is missing and what to do, instead of
 * Node's bare ENOENT.
 */
export async function requirePath(path: string, whatIsMissing: string, whatToDo: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`${whatIsMissing} not found: ${path} does not exist. ${whatToDo}`);
    }
    throw error;
  }
}
