import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { ioError, writeFileAtomic } from '../util/output-file.js';
import { dirname } from 'node:path';

/**
 * The training log: one JSON object per line, appended and flushed per entry, so a killed run loses no
 * logged line. Opening it keeps only the entries up to `keepUpToImages` (those of the checkpoint a run
 * resumes from; none for a fresh run). The trimmed log replaces the old one by a rename, and a failed write
 * (a full disk) is an error naming the log.
 */
export class JsonlLog {
  constructor(readonly path: string, keepUpToImages: number) {
    mkdirSync(dirname(path), { recursive: true });
    const kept = existsSync(path)
      ? readFileSync(path, 'utf8')
          .split('\n')
          .filter((line) => {
            try {
              return line !== '' && (JSON.parse(line) as { images: number }).images <= keepUpToImages;
            } catch {
              return false;
            }
          })
      : [];
    writeFileAtomic(path, kept.map((l) => `${l}\n`).join(''));
  }

  write(entry: object): void {
    try {
      appendFileSync(this.path, `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
    } catch (e) {
      throw ioError(this.path, 'append to the training log', e);
    }
  }
}
