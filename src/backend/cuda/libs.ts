/**
 * Finding and opening NVIDIA's shared libraries through koffi, by soname.
 *
 * Search order for each library: the folders in STAGEDIFF_CUDA_LIBS (colon-separated), then the dynamic
 * linker's own search (LD_LIBRARY_PATH, ldconfig cache), then the usual install places: the CUDA toolkit,
 * the distribution's library folder, the driver's container mount, and the pip wheels PyTorch ships
 * (site-packages/nvidia/<pkg>/lib). koffi itself is required lazily so that importing the CUDA backend on a
 * machine where koffi's native module cannot load still only makes the probe report it missing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type * as KoffiModule from 'koffi';

export type Koffi = typeof KoffiModule;
export type KoffiLib = KoffiModule.IKoffiLib;

let koffiModule: Koffi | null = null;
let koffiError: string | null = null;

/** The koffi module, or null (with koffiLoadError() saying why) where its native part cannot load. */
export function koffi(): Koffi | null {
  if (koffiModule || koffiError) return koffiModule;
  try {
    koffiModule = createRequire(import.meta.url)('koffi') as Koffi;
  } catch (e) {
    koffiError = `koffi (the FFI module) did not load: ${(e as Error).message}`;
  }
  return koffiModule;
}

export function koffiLoadError(): string | null {
  koffi();
  return koffiError;
}

/** Each library's sonames, newest first (CUDA 13 then 12). */
export const SONAMES = {
  cuda: ['libcuda.so.1'],
  nvrtc: ['libnvrtc.so.13', 'libnvrtc.so.12'],
  cublasLt: ['libcublasLt.so.13', 'libcublasLt.so.12'],
  cudnn: ['libcudnn.so.9'],
  nccl: ['libnccl.so.2'],
} as const;
export type LibraryName = keyof typeof SONAMES;
/** What the backend needs on one GPU; NCCL serves only training on several (src/distributed/). */
export const REQUIRED_LIBRARIES: readonly LibraryName[] = ['cuda', 'nvrtc', 'cublasLt', 'cudnn'];

/** Folders searched after STAGEDIFF_CUDA_LIBS and the linker's own path. */
function usualFolders(): string[] {
  const dirs = [
    '/usr/local/cuda/lib64',
    '/usr/local/cuda/targets/x86_64-linux/lib',
    '/usr/local/nvidia/lib64',
    '/usr/lib/x86_64-linux-gnu',
    '/usr/lib64',
    '/usr/lib/wsl/lib',
  ];
  // pip wheels: site-packages/nvidia/<pkg>/lib (CUDA 12 wheels) and nvidia/cu13/lib (CUDA 13 wheels)
  for (const root of ['/opt/torch/.venv/lib', '/usr/local/lib', '/usr/lib', join(process.env.HOME ?? '/root', '.local/lib')]) {
    for (const py of safeList(root).filter((d) => d.startsWith('python3'))) {
      for (const sp of ['site-packages', 'dist-packages']) {
        const nv = join(root, py, sp, 'nvidia');
        for (const pkg of safeList(nv)) dirs.push(join(nv, pkg, 'lib'));
      }
    }
  }
  return dirs;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

export interface OpenedLibrary {
  lib: KoffiLib;
  /** The path opened, or the bare soname where the dynamic linker found it. */
  path: string;
}

const opened = new Map<LibraryName, OpenedLibrary>();
const failures = new Map<LibraryName, string>();

/**
 * Opens a library by soname; throws an error listing where it looked. Companion libraries that the library
 * itself dlopens by soname (cuDNN's sub-libraries, NVRTC's builtins) are opened first from the same folder,
 * so the linker finds them already loaded however the folder is (or is not) on its path.
 */
export function openLibrary(name: LibraryName): OpenedLibrary {
  const done = opened.get(name);
  if (done) return done;
  const failed = failures.get(name);
  if (failed) throw new Error(failed);
  const k = koffi();
  if (!k) throw new Error(koffiError ?? 'koffi did not load');
  const tried: string[] = [];
  const attempt = (path: string, folder: string | null): OpenedLibrary | null => {
    try {
      if (folder) preloadCompanions(k, name, folder);
      const lib = k.load(path);
      const result = { lib, path };
      opened.set(name, result);
      return result;
    } catch (e) {
      tried.push(`${path} (${(e as Error).message.split('\n')[0]})`);
      return null;
    }
  };
  const userDirs = (process.env.STAGEDIFF_CUDA_LIBS ?? '').split(':').filter((d) => d.length > 0);
  const inFolders = (dirs: string[]): OpenedLibrary | null => {
    for (const soname of SONAMES[name]) {
      for (const dir of dirs) {
        const p = join(dir, soname);
        const r = existsSync(p) ? attempt(p, dir) : null;
        if (r) return r;
      }
    }
    return null;
  };
  const viaLinker = (): OpenedLibrary | null => {
    for (const soname of SONAMES[name]) {
      const r = attempt(soname, null);
      if (r) return r;
    }
    return null;
  };
  const found = inFolders(userDirs) ?? viaLinker() ?? inFolders(usualFolders());
  if (found) return found;
  const msg = `${SONAMES[name].join(' or ')} not found (set STAGEDIFF_CUDA_LIBS to its folder)${tried.length ? `; tried: ${tried.join('; ')}` : ''}`;
  failures.set(name, msg);
  throw new Error(msg);
}

/** Libraries a library loads by soname at run time, loaded here first from its folder. */
function preloadCompanions(k: Koffi, name: LibraryName, folder: string): void {
  const files = safeList(folder);
  const pick = (re: RegExp) => files.filter((f) => re.test(f)).sort();
  let companions: string[] = [];
  if (name === 'nvrtc') companions = pick(/^libnvrtc-builtins\.so\.\d+\.\d+$/);
  if (name === 'cudnn') {
    // cuDNN 9 is a dispatcher over sub-libraries; graph and ops before the engines that need them.
    const order = ['graph', 'ops', 'cnn', 'adv', 'engines_precompiled', 'engines_runtime_compiled', 'heuristic'];
    companions = order.map((s) => `libcudnn_${s}.so.9`).filter((f) => files.includes(f));
  }
  for (const f of companions) {
    try {
      k.load(join(folder, f));
    } catch {
      // a companion that fails here fails again, with the library's own message, when it is needed
    }
  }
}
