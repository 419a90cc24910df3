import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The training log: one JSON object per line, appended and flushed per entry, so a killed run loses no
 * logged line. Opening it keeps only the entries up to `keepUpToImages` (those of the checkpoint a run
 * resumes from; none for a fresh run).
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
    writeFileSync(path, kept.map((l) => `${l}\n`).join(''));
  }

  write(entry: object): void {
    appendFileSync(this.path, `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
  }
}
