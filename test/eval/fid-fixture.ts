/**
 * The FID fixtures (test/fixtures/fid/README.md): weights stored as NAME.q (int8) times NAME.scale, which
 * stagediff's safetensors reader (float tensors only) does not take, so this reads the format itself.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostTensor } from '../../src/nn/safetensors.js';

/** $STAGEDIFF_FID_FIXTURE_DIR, else the repository's test/fixtures/fid. */
export function fidFixtureDir(): string {
  const inRepository = fileURLToPath(new URL('../../../test/fixtures/fid', import.meta.url));
  return resolve(process.env.STAGEDIFF_FID_FIXTURE_DIR ?? inRepository);
}

interface Entry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** Every tensor of a safetensors file as float64 (F32, F64 and I8 only), by name. */
function readAsFloat64(path: string): Map<string, { shape: number[]; data: Float64Array }> {
  if (!existsSync(path)) throw new Error(`FID fixture ${path} not found (set STAGEDIFF_FID_FIXTURE_DIR to the folder holding it)`);
  const bytes = readFileSync(path);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8')) as Record<string, Entry>;
  const body = bytes.subarray(8 + headerLength);
  const out = new Map<string, { shape: number[]; data: Float64Array }>();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const raw = body.subarray(e.data_offsets[0], e.data_offsets[1]);
    // copied: typed arrays need aligned offsets
    const buffer = Uint8Array.from(raw).buffer;
    const data = e.dtype === 'F32' ? Float64Array.from(new Float32Array(buffer))
      : e.dtype === 'F64' ? new Float64Array(buffer)
      : e.dtype === 'I8' ? Float64Array.from(new Int8Array(buffer))
      : null;
    if (data === null) throw new Error(`${path}: tensor ${name} has dtype ${e.dtype}; the FID fixture format has F32, F64 and I8 only`);
    out.set(name, { shape: e.shape, data });
  }
  return out;
}

export interface InceptionFixture {
  /** The network's state dict, dequantised, float32. */
  state: Map<string, HostTensor>;
  x: HostTensor;
  /** The float64 reference features [N, 2048]. */
  features: Float64Array;
}

export function readInceptionFixture(dir = fidFixtureDir()): InceptionFixture {
  const path = resolve(dir, 'inception-fid.safetensors');
  const raw = readAsFloat64(path);
  const take = (name: string): { shape: number[]; data: Float64Array } => {
    const t = raw.get(name);
    if (!t) throw new Error(`${path}: no tensor ${name}`);
    return t;
  };
  const state = new Map<string, HostTensor>();
  for (const [name, t] of raw) {
    if (name.startsWith('fixture.') || name.endsWith('.scale')) continue;
    if (name.endsWith('.q')) {
      const base = name.slice(0, -2);
      const scale = take(`${base}.scale`).data[0];
      state.set(base, { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data, (q) => q * scale) });
    } else state.set(name, { dtype: 'float32', shape: t.shape, data: Float32Array.from(t.data) });
  }
  const x = take('fixture.x');
  return { state, x: { dtype: 'float32', shape: x.shape, data: Float32Array.from(x.data) }, features: take('fixture.features').data };
}
