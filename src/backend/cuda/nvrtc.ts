/**
 * Run-time compilation of our CUDA C kernels with NVRTC, straight to machine code (CUBIN) for the GPU in
 * the machine (sm_90 on an H100), cached on disk by a hash of the source, the options and the NVRTC
 * version: a second run loads the CUBIN and never calls the compiler.
 *
 * Cache folder: STAGEDIFF_KERNEL_CACHE, else $XDG_CACHE_HOME/stagediff/kernels, else ~/.cache/stagediff/kernels.
 * A cache that cannot be written (read-only home) only costs the compile time again.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { openLibrary } from './libs.js';

type Fn = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any

interface Nvrtc {
  version: string;
  nvrtcGetErrorString: Fn;
  nvrtcCreateProgram: Fn;
  nvrtcDestroyProgram: Fn;
  nvrtcCompileProgram: Fn;
  nvrtcGetProgramLogSize: Fn;
  nvrtcGetProgramLog: Fn;
  nvrtcGetCUBINSize: Fn;
  nvrtcGetCUBIN: Fn;
}

let nvrtc: Nvrtc | null = null;

export function loadNvrtc(): Nvrtc {
  if (nvrtc) return nvrtc;
  const { lib } = openLibrary('nvrtc');
  const f = (proto: string): Fn => lib.func(proto) as Fn;
  const nvrtcVersion = f('int nvrtcVersion(_Out_ int *major, _Out_ int *minor)');
  const major = [0];
  const minor = [0];
  nvrtcVersion(major, minor);
  nvrtc = {
    version: `${major[0]}.${minor[0]}`,
    nvrtcGetErrorString: f('const char *nvrtcGetErrorString(int result)'),
    nvrtcCreateProgram: f('int nvrtcCreateProgram(_Out_ void **prog, const char *src, const char *name, int numHeaders, void *headers, void *includeNames)'),
    nvrtcDestroyProgram: f('int nvrtcDestroyProgram(_Inout_ void **prog)'),
    nvrtcCompileProgram: f('int nvrtcCompileProgram(void *prog, int numOptions, const char **options)'),
    nvrtcGetProgramLogSize: f('int nvrtcGetProgramLogSize(void *prog, _Out_ size_t *size)'),
    nvrtcGetProgramLog: f('int nvrtcGetProgramLog(void *prog, void *log)'),
    nvrtcGetCUBINSize: f('int nvrtcGetCUBINSize(void *prog, _Out_ size_t *size)'),
    nvrtcGetCUBIN: f('int nvrtcGetCUBIN(void *prog, void *cubin)'),
  };
  return nvrtc;
}

function check(n: Nvrtc, status: number, call: string, what: string): void {
  if (status !== 0) throw new Error(`${call} failed for ${what}: ${n.nvrtcGetErrorString(status)}`);
}

function cacheFolder(): string {
  if (process.env.STAGEDIFF_KERNEL_CACHE) return process.env.STAGEDIFF_KERNEL_CACHE;
  const base = process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache');
  return join(base, 'stagediff', 'kernels');
}

export interface CompileStats {
  compiled: number;
  fromCache: number;
  compileMs: number;
}

export const compileStats: CompileStats = { compiled: 0, fromCache: 0, compileMs: 0 };

/**
 * CUBIN for `source` on compute capability `arch` (e.g. 90). `name` appears in error messages and
 * the compiler log: the file name of the kernel module, such as "elementwise.cu".
 */
export function compile(source: string, name: string, arch: number): Buffer {
  const n = loadNvrtc();
  const options = [`--gpu-architecture=sm_${arch}`, '--std=c++17', '-default-device', '--extra-device-vectorization'];
  const key = createHash('sha256').update(`${n.version}\n${options.join(' ')}\n${source}`).digest('hex').slice(0, 32);
  const folder = cacheFolder();
  const file = join(folder, `${name.replace(/\W/g, '_')}-${key}.cubin`);
  try {
    const cached = readFileSync(file);
    compileStats.fromCache++;
    return cached;
  } catch {
    // not cached yet
  }
  const t0 = performance.now();
  const prog: unknown[] = [null];
  check(n, n.nvrtcCreateProgram(prog, source, name, 0, null, null), 'nvrtcCreateProgram', name);
  try {
    const status = n.nvrtcCompileProgram(prog[0], options.length, options);
    if (status !== 0) {
      const size = [0];
      n.nvrtcGetProgramLogSize(prog[0], size);
      const log = Buffer.alloc(Math.max(1, size[0]));
      n.nvrtcGetProgramLog(prog[0], log);
      throw new Error(`NVRTC ${n.version} could not compile ${name} for sm_${arch}: ${n.nvrtcGetErrorString(status)}\n${log.toString('utf8').replace(/\0+$/, '')}`);
    }
    const size = [0];
    check(n, n.nvrtcGetCUBINSize(prog[0], size), 'nvrtcGetCUBINSize', name);
    const cubin = Buffer.alloc(size[0]);
    check(n, n.nvrtcGetCUBIN(prog[0], cubin), 'nvrtcGetCUBIN', name);
    compileStats.compiled++;
    compileStats.compileMs += performance.now() - t0;
    try {
      mkdirSync(folder, { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      writeFileSync(tmp, cubin);
      renameSync(tmp, file);
    } catch {
      // an unwritable cache only costs the compile next time
    }
    return cubin;
  } finally {
    n.nvrtcDestroyProgram(prog);
  }
}
