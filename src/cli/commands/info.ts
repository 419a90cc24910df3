import { cpus } from 'node:os';
import { cpuThreadCount, oneDnnStatus } from '../../backend/cpu/index.js';
import { probeCuda } from '../../backend/cuda/index.js';
import { probeNccl } from '../../distributed/nccl.js';
import { packageVersion } from '../version.js';
import { parseFlags } from '../args.js';

const USAGE = `usage: stagediff info

Prints the version, the CPU backend's thread count and which convolution kernels it uses (oneDNN where
libdnnl.so.2 is installed, else its WebAssembly ones), whether the CUDA backend can start (the GPU and the
libraries it found, or what is missing) and whether NCCL is there for training on several GPUs. Takes no
options.`;

export function infoCommand(argv: string[]): void {
  parseFlags(argv, {}, USAGE);
  const lines = [
    `stagediff ${packageVersion()}`,
    `node ${process.version} on ${process.platform}-${process.arch}`,
    `backend cpu: available, ${cpuThreadCount()} threads of ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown CPU'}; STAGEDIFF_CPU_THREADS sets the count)`,
    `cpu convolutions: ${oneDnnStatus()}`,
  ];
  const cuda = probeCuda();
  if (cuda.available) {
    lines.push(`backend cuda: available, ${cuda.device} (compute ${cuda.computeCapability}, ${((cuda.memoryBytes ?? 0) / 2 ** 30).toFixed(1)} GiB), driver ${cuda.driverVersion}, NVRTC ${cuda.nvrtcVersion}, cuDNN ${cuda.cudnnVersion}`);
    for (const [name, path] of Object.entries(cuda.libraries)) lines.push(`  ${name}: ${path}`);
  } else {
    lines.push('backend cuda: not available (the CPU backend is used):');
    for (const m of cuda.missing) lines.push(`  - ${m}`);
  }
  const nccl = probeNccl();
  lines.push('version' in nccl ? `several GPUs (train --gpus): NCCL ${nccl.version} (${nccl.path})` : `several GPUs (train --gpus): not available: ${nccl.missing}`);
  console.log(lines.join('\n'));
}
