/** What the CUDA backend needs, found or missing, checked without initialising anything. */
import { REQUIRED_LIBRARIES, type LibraryName, koffiLoadError, openLibrary } from './libs.js';
import { check, deviceAttribute, loadDriver } from './driver.js';
import { loadNvrtc } from './nvrtc.js';

export interface CudaProbe {
  available: boolean;
  device?: string;
  /** e.g. "9.0" */
  computeCapability?: string;
  memoryBytes?: number;
  driverVersion?: string;
  nvrtcVersion?: string;
  cudnnVersion?: string;
  /** Where each library was found. */
  libraries: Partial<Record<LibraryName, string>>;
  /** One line per missing piece, saying what and how to fix it; empty when available. */
  missing: string[];
}

/** Checks for a usable GPU and libraries without initialising the backend. Never throws. */
export function probeCuda(): CudaProbe {
  const probe: CudaProbe = { available: false, libraries: {}, missing: [] };
  const ffi = koffiLoadError();
  if (ffi) {
    probe.missing.push(ffi);
    return probe;
  }
  for (const name of REQUIRED_LIBRARIES) {
    try {
      probe.libraries[name] = openLibrary(name).path;
    } catch (e) {
      probe.missing.push(`${name}: ${(e as Error).message}`);
    }
  }
  if (probe.libraries.cuda) {
    try {
      const d = loadDriver();
      check(d, d.cuInit(0), 'cuInit');
      const v = [0];
      check(d, d.cuDriverGetVersion(v), 'cuDriverGetVersion');
      probe.driverVersion = `${Math.floor(v[0] / 1000)}.${(v[0] % 1000) / 10}`;
      const count = [0];
      check(d, d.cuDeviceGetCount(count), 'cuDeviceGetCount');
      if (count[0] === 0) probe.missing.push('no CUDA device is visible (check CUDA_VISIBLE_DEVICES and the driver)');
      else {
        const name = Buffer.alloc(256);
        check(d, d.cuDeviceGetName(name, 256, 0), 'cuDeviceGetName');
        probe.device = name.toString('utf8').replace(/\0.*$/s, '');
        probe.computeCapability = `${deviceAttribute(d, 'computeCapabilityMajor', 0)}.${deviceAttribute(d, 'computeCapabilityMinor', 0)}`;
        const mem = [0];
        check(d, d.cuDeviceTotalMem(mem, 0), 'cuDeviceTotalMem');
        probe.memoryBytes = mem[0];
      }
    } catch (e) {
      probe.missing.push(`CUDA driver: ${(e as Error).message}`);
    }
  }
  if (probe.libraries.nvrtc) {
    try {
      probe.nvrtcVersion = loadNvrtc().version;
    } catch (e) {
      probe.missing.push(`nvrtc: ${(e as Error).message}`);
    }
  }
  if (probe.libraries.cudnn) {
    try {
      const v = Number((openLibrary('cudnn').lib.func('size_t cudnnGetVersion()') as () => number)());
      probe.cudnnVersion = `${Math.floor(v / 10000)}.${Math.floor((v % 10000) / 100)}.${v % 100}`;
    } catch (e) {
      probe.missing.push(`cudnn: ${(e as Error).message}`);
    }
  }
  probe.available = probe.missing.length === 0;
  return probe;
}
