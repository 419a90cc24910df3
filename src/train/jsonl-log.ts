import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

/** One JSON object per line, appended and flushed per entry, so a killed run loses no logged line. */
export class JsonlLog {
  constructor(readonly path: string) {
    mkdirSync(dirname(path), { recursive: true });
  }
  write(entry: object): void {
    appendFileSync(this.path, `${JSON.stringify({ time: new Date().toISOString(), ...entry })}\n`);
  }
}
