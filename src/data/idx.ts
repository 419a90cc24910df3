import { readFile } from 'node:fs/promises';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import { basename } from 'node:path';

const gunzipAsync = promisify(gunzip);

/** IDX element-type codes (the third magic byte), named for error messages. */
const IDX_TYPES: Record<number, string> = { 0x08: 'unsigned byte', 0x09: 'signed byte', 0x0b: 'int16', 0x0c: 'int32', 0x0d: 'float32', 0x0e: 'float64' };
const UNSIGNED_BYTE = 0x08;

export interface IdxArray {
  /** Sizes, outermost first (for MNIST images: count, rows, columns). */
  dims: number[];
  data: Uint8Array;
}

/**
 * Reads an IDX file of unsigned bytes (the format of MNIST and Fashion-MNIST), gzip-compressed or not:
 * magic 0x00 0x00 0x08 <number of dimensions>, one big-endian uint32 per dimension, then the bytes.
 * `itemName` names one entry of the outermost dimension in messages ("image", "label").
 */
export async function readIdxUint8(file: string, expectedDims: number, itemName: string): Promise<IdxArray> {
  const name = basename(file);
  const bytes = await decompressIfGzipped(await readFile(file), name);
  if (bytes.length < 4 || bytes[0] !== 0 || bytes[1] !== 0) {
    const magic = [...bytes.subarray(0, 4)].map((b) => b.toString(16).padStart(2, '0')).join('');
    throw new Error(`${name}: magic number 0x${magic} is not an IDX file (IDX files start with two zero bytes, a type byte, a dimension count)`);
  }
  const type = bytes[2];
  if (type !== UNSIGNED_BYTE) {
    throw new Error(`${name}: IDX element type 0x${type.toString(16)} (${IDX_TYPES[type] ?? 'unknown'}); expected 0x08 (unsigned byte)`);
  }
  const dimCount = bytes[3];
  if (dimCount !== expectedDims) {
    throw new Error(
      `${name}: IDX file has ${dimCount} dimension(s) but a file of ${itemName}s has ${expectedDims} ` +
        `(magic ${hexMagic(dimCount)}, expected ${hexMagic(expectedDims)})`,
    );
  }
  const headerBytes = 4 + 4 * dimCount;
  if (bytes.length < headerBytes) throw new Error(`${name}: the IDX header is truncated (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: dimCount }, (_, d) => view.getUint32(4 + 4 * d, false));
  const itemBytes = dims.slice(1).reduce((a, b) => a * b, 1);
  const expected = dims[0] * itemBytes;
  const present = bytes.length - headerBytes;
  if (present !== expected) {
    const problem = present < expected ? `(${itemName} ${Math.floor(present / itemBytes)} is truncated)` : `(${present - expected} bytes too many)`;
    throw new Error(`${name}: the header says ${dims.join('x')} (${expected} bytes of data) but ${present} bytes follow it ${problem}`);
  }
  return { dims, data: bytes.subarray(headerBytes) };
}

/** The magic number of an unsigned-byte IDX file of `dims` dimensions, as written in the format's description. */
function hexMagic(dims: number): string {
  return `0x000008${dims.toString(16).padStart(2, '0')}`;
}

/** Gunzips data that starts with the gzip magic bytes; returns anything else unchanged. */
async function decompressIfGzipped(bytes: Uint8Array, name: string): Promise<Uint8Array> {
  if (bytes[0] !== 0x1f || bytes[1] !== 0x8b) return bytes;
  try {
    return await gunzipAsync(bytes);
  } catch (error) {
    throw new Error(`${name}: the gzip data is damaged or truncated (${(error as Error).message})`);
  }
}
