/**
 * numpy's .npy and .npz formats, as np.save / np.savez write them and np.load reads them: the 8-bit NHWC
 * `arr_0` of sampled images that EDM's and pytorch-fid's tools read, and the (mu, sigma) reference
 * statistics they publish. An .npz is a zip of .npy entries; this writes stored (uncompressed) entries,
 * streaming an array's data in chunks so 50,000 images need not be in memory at once, and reads stored and
 * deflated ones (np.savez_compressed). Arrays are C order, little-endian float64, float32 or uint8; no ZIP64
 * (entries and files below 4 GiB).
 *
 * .npy: "\x93NUMPY", version (1.0: 2-byte header length; 2.0: 4-byte), then a Python dict literal such as
 * {'descr': '<f8', 'fortran_order': False, 'shape': (2048,), } padded with spaces and a newline so the data
 * starts at a multiple of 64 bytes, then the data.
 */
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { inflateRawSync } from 'node:zlib';
import { AtomicFile } from '../util/output-file.js';

export type NpyDtype = '<f8' | '<f4' | '|u1';

const DTYPES: Record<NpyDtype, { bytes: number; array: Float64ArrayConstructor | Float32ArrayConstructor | Uint8ArrayConstructor }> = {
  '<f8': { bytes: 8, array: Float64Array },
  '<f4': { bytes: 4, array: Float32Array },
  '|u1': { bytes: 1, array: Uint8Array },
};

export interface NpyArray {
  dtype: NpyDtype;
  shape: number[];
  data: Float64Array | Float32Array | Uint8Array;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ZIP_LIMIT = 0xffffffff;

function checkHost(): void {
  if (endianness() !== 'LE') throw new Error('npy: this code assumes a little-endian host');
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The .npy header (magic, version, dict, padding) numpy writes for this dtype and shape. */
export function npyHeader(dtype: NpyDtype, shape: readonly number[]): Uint8Array {
  if (!Object.hasOwn(DTYPES, dtype)) throw new Error(`npy: unsupported dtype '${dtype}'; expected one of ${Object.keys(DTYPES).join(', ')}`);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw new Error(`npy: bad shape (${shape.join(', ')})`);
  const tuple = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${tuple}, }`;
  // numpy: version 1.0 while the header length fits 16 bits; the whole header a multiple of 64 bytes.
  const padded = (prefix: number): number => Math.ceil((prefix + dict.length + 1) / 64) * 64;
  const v1 = padded(10) - 10 <= 0xffff;
  const prefix = v1 ? 10 : 12;
  const total = padded(prefix);
  const out = new Uint8Array(total);
  out.set(MAGIC);
  out[6] = v1 ? 1 : 2;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (v1) view.setUint16(8, total - prefix, true);
  else view.setUint32(8, total - prefix, true);
  out.set(new TextEncoder().encode(dict.padEnd(total - prefix - 1, ' ') + '\n'), prefix);
  return out;
}

/** A whole array as .npy bytes. */
export function encodeNpy(array: NpyArray): Uint8Array {
  checkHost();
  const count = elementCount(array.shape);
  if (array.data.length !== count || !(array.data instanceof DTYPES[array.dtype].array)) {
    throw new Error(`npy: ${array.data.constructor.name} of ${array.data.length} elements for ${array.dtype} (${array.shape.join(', ')})`);
  }
  const header = npyHeader(array.dtype, array.shape);
  const out = new Uint8Array(header.length + array.data.byteLength);
  out.set(header);
  out.set(new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength), header.length);
  return out;
}

/** Parses .npy bytes; `source` names the file (and entry) in errors. */
export function decodeNpy(bytes: Uint8Array, source: string): NpyArray {
  checkHost();
  const fail = (problem: string): never => {
    throw new Error(`${source}: ${problem}`);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) fail('not a .npy array (no \\x93NUMPY magic)');
  const major = bytes[6];
  if (major < 1 || major > 3) fail(`.npy format version ${major}.${bytes[7]} is not supported (1.0 to 3.0)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const prefix = major === 1 ? 10 : 12;
  if (bytes.length < prefix) fail('truncated .npy header');
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  if (prefix + headerLength > bytes.length) fail(`truncated: header of ${headerLength} bytes in a ${bytes.length}-byte array`);
  const header = new TextDecoder(major === 3 ? 'utf-8' : 'latin1').decode(bytes.subarray(prefix, prefix + headerLength));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) fail(`unreadable .npy header ${JSON.stringify(header.trim())}`);
  // numpy writes '=u1' / '<u1' for some uint8 arrays; byte order does not apply to one byte.
  const dtype = (/^[<=|]u1$/.test(descr!) ? '|u1' : descr) as NpyDtype;
  if (!Object.hasOwn(DTYPES, dtype)) fail(`dtype '${descr}' is not supported (little-endian float64 '<f8', float32 '<f4', uint8 '|u1')`);
  if (fortran === 'True') fail('Fortran-order arrays are not supported (save it with np.ascontiguousarray)');
  const shape = shapeText!.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`bad shape (${shapeText})`);
  const { bytes: width, array } = DTYPES[dtype];
  const count = elementCount(shape);
  const start = prefix + headerLength;
  if (bytes.length - start !== count * width) fail(`${bytes.length - start} data bytes for ${dtype} (${shape.join(', ')}), expected ${count * width}`);
  // A copy: the data's offset in the file need not be aligned for the element type.
  const data = new array(count);
  new Uint8Array(data.buffer).set(bytes.subarray(start));
  return { dtype, shape, data };
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The zip (IEEE) CRC-32, continued from `crc` (0 to start). */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// Every entry is dated 1980-01-01 00:00 (the zip epoch) so that the same arrays give the same bytes.
const DOS_DATE = (0 << 9) | (1 << 5) | 1;

interface EntryRecord {
  name: Uint8Array;
  offset: number;
  size: number;
  crc: number;
}

function localHeader(name: Uint8Array, size: number, crc: number): Uint8Array {
  const out = new Uint8Array(30 + name.length);
  const v = new DataView(out.buffer);
  v.setUint32(0, 0x04034b50, true);
  v.setUint16(4, 20, true); // version needed: 2.0
  v.setUint16(8, 0, true); // stored
  v.setUint16(12, DOS_DATE, true);
  v.setUint32(14, crc, true);
  v.setUint32(18, size, true);
  v.setUint32(22, size, true);
  v.setUint16(26, name.length, true);
  out.set(name, 30);
  return out;
}

/**
 * An .npz being written (to a temporary name, renamed on close). Arrays are added whole (`add`) or streamed
 * (`begin`, then `write` chunks of exactly the declared size in total).
 */
export class NpzWriter {
  private readonly file: AtomicFile;
  private readonly entries: EntryRecord[] = [];
  private open: { entry: EntryRecord; remaining: number } | null = null;

  constructor(readonly path: string) {
    checkHost();
    this.file = new AtomicFile(path);
  }

  /** The file size an npz of arrays of these byte sizes will have (zip limit checks before any work). */
  static fileSize(arrays: readonly { name: string; dtype: NpyDtype; shape: readonly number[] }[]): number {
    return arrays.reduce((total, a) => {
      const name = new TextEncoder().encode(`${a.name}.npy`).length;
      return total + 30 + 46 + 2 * name + npyHeader(a.dtype, a.shape).length + elementCount(a.shape) * DTYPES[a.dtype].bytes;
    }, 22);
  }

  add(name: string, array: NpyArray): void {
    this.begin(name, array.dtype, array.shape);
    this.write(new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength));
  }

  begin(name: string, dtype: NpyDtype, shape: readonly number[]): void {
    if (this.open) throw new Error(`${this.path}: internal: array '${name}' begun before the previous one was complete`);
    const fullName = new TextEncoder().encode(`${name}.npy`);
    if (this.entries.some((e) => Buffer.from(e.name).equals(fullName))) throw new Error(`${this.path}: two arrays named '${name}'`);
    const header = npyHeader(dtype, shape);
    const size = header.length + elementCount(shape) * DTYPES[dtype].bytes;
    if (size > ZIP_LIMIT || this.file.length + size + 30 + fullName.length > ZIP_LIMIT) {
      this.file.abort();
      throw new Error(`${this.path}: array '${name}' would take the file past 4 GiB, which needs ZIP64 (not written here); write a folder of PNGs or split the run`);
    }
    const entry: EntryRecord = { name: fullName, offset: this.file.length, size, crc: 0 };
    this.entries.push(entry);
    this.file.append(localHeader(fullName, size, 0));
    this.open = { entry, remaining: size };
    this.write(header);
  }

  /** The next bytes of the array begun last. */
  write(chunk: Uint8Array): void {
    const open = this.open;
    if (!open || chunk.length > open.remaining) {
      this.file.abort();
      throw new Error(`${this.path}: internal: ${chunk.length} bytes written past the declared size of an array`);
    }
    open.entry.crc = crc32(chunk, open.entry.crc);
    this.file.append(chunk);
    open.remaining -= chunk.length;
    if (open.remaining === 0) {
      // The checksum is known now: patch it into the local header (offset 14).
      const crc = new Uint8Array(4);
      new DataView(crc.buffer).setUint32(0, open.entry.crc, true);
      this.file.writeAt(crc, open.entry.offset + 14);
      this.open = null;
    }
  }

  /** Writes the zip directory and renames the file into place. */
  close(): void {
    if (this.open) {
      this.file.abort();
      throw new Error(`${this.path}: internal: closed with ${this.open.remaining} bytes of an array missing`);
    }
    const directoryOffset = this.file.length;
    for (const e of this.entries) {
      const out = new Uint8Array(46 + e.name.length);
      const v = new DataView(out.buffer);
      v.setUint32(0, 0x02014b50, true);
      v.setUint16(4, 20, true); // made by: 2.0
      v.setUint16(6, 20, true); // needed: 2.0
      v.setUint16(14, DOS_DATE, true);
      v.setUint32(16, e.crc, true);
      v.setUint32(20, e.size, true);
      v.setUint32(24, e.size, true);
      v.setUint16(28, e.name.length, true);
      v.setUint32(42, e.offset, true);
      out.set(e.name, 46);
      this.file.append(out);
    }
    const end = new Uint8Array(22);
    const v = new DataView(end.buffer);
    v.setUint32(0, 0x06054b50, true);
    v.setUint16(8, this.entries.length, true);
    v.setUint16(10, this.entries.length, true);
    v.setUint32(12, this.file.length - directoryOffset, true);
    v.setUint32(16, directoryOffset, true);
    this.file.append(end);
    this.file.commit();
  }

  /** Removes the temporary file (after an error elsewhere); the target is untouched. */
  abort(): void {
    this.file.abort();
  }
}

/** Writes arrays by name (np.savez's layout: entry NAME.npy) through a temporary file. */
export function writeNpz(path: string, arrays: Record<string, NpyArray>): void {
  const writer = new NpzWriter(path);
  for (const [name, array] of Object.entries(arrays)) writer.add(name, array);
  writer.close();
}

/** Parses .npz bytes into arrays by name (without '.npy', as np.load's keys); `source` names the file in errors. */
export function decodeNpz(bytes: Uint8Array, source: string): Map<string, NpyArray> {
  const fail = (problem: string): never => {
    throw new Error(`${source}: ${problem}`);
  };
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let end = -1;
  for (let at = bytes.length - 22; at >= Math.max(0, bytes.length - 22 - 65535); at--) {
    if (view.getUint32(at, true) === 0x06054b50) {
      end = at;
      break;
    }
  }
  if (end < 0) fail('not an .npz (zip) file: no end-of-directory record (truncated or another format)');
  const entries = view.getUint16(end + 10, true);
  let at = view.getUint32(end + 16, true);
  if (entries === 0xffff || at === ZIP_LIMIT) fail('a ZIP64 archive (over 4 GiB or 65535 entries) is not supported');
  const arrays = new Map<string, NpyArray>();
  for (let i = 0; i < entries; i++) {
    if (at + 46 > bytes.length || view.getUint32(at, true) !== 0x02014b50) fail(`corrupt zip directory (entry ${i})`);
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    const packed = view.getUint32(at + 20, true);
    const size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const skip = nameLength + view.getUint16(at + 30, true) + view.getUint16(at + 32, true);
    const offset = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    at += 46 + skip;
    if (offset + 30 > bytes.length || view.getUint32(offset, true) !== 0x04034b50) fail(`entry '${name}': corrupt local header`);
    const start = offset + 30 + view.getUint16(offset + 26, true) + view.getUint16(offset + 28, true);
    if (start + packed > bytes.length) fail(`entry '${name}': truncated (${bytes.length - start} of ${packed} bytes)`);
    const raw = bytes.subarray(start, start + packed);
    let data: Uint8Array;
    if (method === 0) data = raw;
    else if (method === 8) {
      try {
        data = inflateRawSync(raw);
      } catch (e) {
        return fail(`entry '${name}': corrupt deflated data (${(e as Error).message})`);
      }
    } else return fail(`entry '${name}': compression method ${method} is not supported (stored or deflated)`);
    if (data.length !== size) fail(`entry '${name}': ${data.length} bytes, the directory says ${size}`);
    if (crc32(data) !== crc) fail(`entry '${name}': checksum mismatch (the file is corrupt)`);
    arrays.set(name.replace(/\.npy$/, ''), decodeNpy(data, `${source}: ${name}`));
  }
  return arrays;
}

export function readNpz(path: string): Map<string, NpyArray> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new Error(`${path}: cannot read${code === 'ENOENT' ? ': no such file' : ` (${(e as Error).message})`}`);
  }
  return decodeNpz(bytes, path);
}
