import { cpus } from 'node:os';
import { cpuThreadCount } from '../backend/cpu/index.js';
import { probeCuda } from '../backend/cuda/index.js';
import type { EnvironmentRecord } from '../train/run-info.js';
import { packageVersion } from './version.js';

/** What a run records about the machine it starts on: versions, CPU, and the GPU when it trains on one. */
export function currentEnvironment(device: string, images: number): EnvironmentRecord {
  const record: EnvironmentRecord = {
    images,
    startedAt: new Date().toISOString(),
    stagediff: packageVersion(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    cpu: `${cpus()[0]?.model.trim() ?? 'unknown CPU'} (${cpuThreadCount()} threads of ${cpus().length} cores)`,
    device,
  };
  if (device.startsWith('cuda')) {
    const cuda = probeCuda();
    if (cuda.available) {
      record.gpu = `${cuda.device} (compute ${cuda.computeCapability}, ${((cuda.memoryBytes ?? 0) / 2 ** 30).toFixed(1)} GiB)`;
      record.cudaDriver = cuda.driverVersion;
      record.nvrtc = cuda.nvrtcVersion;
      record.cudnn = cuda.cudnnVersion;
    }
  }
  return record;
}
