import { availableParallelism, cpus } from 'node:os';
import { packageVersion } from '../version.js';

export function infoCommand(): void {
  const lines = [
    `stagediff ${packageVersion()}`,
    `node ${process.version} on ${process.platform}-${process.arch}`,
    `backend cpu: available, ${availableParallelism()} threads (${cpus()[0]?.model.trim() ?? 'unknown CPU'})`,
  ];
  console.log(lines.join('\n'));
}
