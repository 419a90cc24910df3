/**
 * The safetensors file format (Hugging Face), read and written here so checkpoints interchange with
 * PyTorch, JAX and the Hugging Face tools: an unsigned 64-bit little-endian header length N, N bytes of
 * JSON {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {string: string}}, then the
 * tensors' little-endian bytes, offsets relative to the end of the header. A reader must not trust the
 * header: every offset is checked against the shape, the data section and its neighbours.
 */
import * as buffer from 'node:buffer';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { endianness } from 'node:os';
import { type DType, type HostArray, allocHost, bytesPerElement } from '../base/dtype.js';
import { formatShape, numel } from '../base/shape.js';

/** A tensor's values on the host, in its own dtype (half types as raw 16-bit patterns). */
export interface HostTensor {
  dtype: DType;
  shape: number[];
  data: HostArray;
}

export interface SafetensorsContents {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

const FILE_DTYPES: Record<string, DType> = { F32: 'float32', F16: 'float16', BF16: 'bfloat16', I32: 'int32', U8: 'uint8' };
const TAGS: Record<DType, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', int32: 'I32', uint8: 'U8' };
/** The reference implementation's limit; a larger header is a corrupt length field, not a real file. */
const MAX_HEADER_BYTES = 100_000_000;

function checkHostIsLittleEndian(): void {
  if (endianness() !== 'LE') throw new Error('safetensors: this reader assumes a little-endian host');
}

/** Parses safetensors bytes; `source` (a file name) starts every error message. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors buffer'): SafetensorsContents {
  checkHostIsLittleEndian();
  const fail = (problem: string): never => {
    throw new Error(`${source}: ${problem}`);
  };
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes, less than the 8-byte header length`);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`corrupt: header length ${headerLength} exceeds ${MAX_HEADER_BYTES} bytes`);
  const n = Number(headerLength);
  if (8 + n > bytes.length) fail(`truncated: the header needs ${n} bytes but only ${bytes.length - 8} follow the length field`);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, 8 + n)));
  } catch (e) {
    fail(`corrupt header: not valid UTF-8 JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('corrupt header: not a JSON object');

  const data = bytes.subarray(8 + n);
  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null) fail('corrupt header: __metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`corrupt header: __metadata__.${k} is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const info = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const dtype = FILE_DTYPES[info?.dtype as string];
    if (!dtype) fail(`tensor "${name}": unsupported dtype ${JSON.stringify(info?.dtype)} (supported: ${Object.keys(FILE_DTYPES).join(', ')})`);
    const shape = info.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`tensor "${name}": shape ${JSON.stringify(shape)} is not a list of non-negative integers`);
    const offsets = info.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
      fail(`tensor "${name}": data_offsets ${JSON.stringify(offsets)} is not [begin, end] with 0 <= begin <= end`);
    }
    const [begin, end] = offsets as number[];
    const needed = numel(shape as number[]) * bytesPerElement(dtype);
    if (end - begin !== needed) fail(`tensor "${name}": data_offsets [${begin}, ${end}] hold ${end - begin} bytes but ${info.dtype} ${formatShape(shape as number[])} needs ${needed}`);
    if (end > data.length) fail(`truncated: tensor "${name}" ends at byte ${end} of the data section, which has only ${data.length} bytes`);
    entries.push({ name, dtype, shape: shape as number[], begin, end });
  }
  // The format requires the tensors to tile the data section exactly: no overlaps, no holes.
  const byOffset = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of byOffset) {
    if (e.begin !== cursor) fail(`corrupt: tensor "${e.name}" starts at byte ${e.begin} of the data section, expected ${cursor} (${e.begin < cursor ? 'overlap' : 'gap'})`);
    cursor = e.end;
  }
  if (cursor !== data.length) fail(`corrupt: ${data.length - cursor} bytes after the last tensor`);

  const tensors = new Map<string, HostTensor>();
  for (const e of entries) {
    const out = allocHost(e.dtype, numel(e.shape));
    // Copied, not viewed: typed arrays need aligned offsets, and the header length aligns nothing.
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(data.subarray(e.begin, e.end));
    tensors.set(e.name, { dtype: e.dtype, shape: [...e.shape], data: out });
  }
  return { tensors, metadata };
}

export function readSafetensors(path: string): SafetensorsContents {
  return parseSafetensors(readWholeFile(path), path);
}

/** Bytes before the data section: the 8-byte length field and the header it gives (of a parsed file). */
export function dataSectionOffset(bytes: Uint8Array): number {
  return 8 + Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
}

/** The `__metadata__` of a file, reading only its header (a checkpoint's config without its tensors). */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  const fd = openForReading(path);
  try {
    const length = new Uint8Array(8);
    if (readSync(fd, length, 0, 8, 0) !== 8) throw new Error(`${path}: truncated: less than the 8-byte header length`);
    const n = new DataView(length.buffer).getBigUint64(0, true);
    if (n > BigInt(MAX_HEADER_BYTES)) throw new Error(`${path}: corrupt: header length ${n} exceeds ${MAX_HEADER_BYTES} bytes`);
    const header = new Uint8Array(Number(n));
    if (readSync(fd, header, 0, header.length, 8) !== header.length) throw new Error(`${path}: truncated header`);
    let parsed: { __metadata__?: Record<string, string> };
    try {
      parsed = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(header)) as typeof parsed;
    } catch (e) {
      throw new Error(`${path}: corrupt header: not valid UTF-8 JSON (${(e as Error).message})`);
    }
    return parsed.__metadata__ ?? {};
  } finally {
    closeSync(fd);
  }
}

/** The file's bytes as a header (length field + padded JSON) and the tensors' bytes that follow it, in order. */
function safetensorsLayout(tensors: Iterable<readonly [string, HostTensor]>, metadata: Record<string, string>): { head: Uint8Array; parts: Uint8Array[]; length: number } {
  checkHostIsLittleEndian();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const [name, t] of tensors) {
    if (name === '__metadata__' || name in header) throw new Error(`safetensors: duplicate or reserved tensor name "${name}"`);
    const expected = numel(t.shape) * bytesPerElement(t.dtype);
    if (t.data.byteLength !== expected) throw new Error(`safetensors: tensor "${name}" has ${t.data.byteLength} bytes of data for ${t.dtype} ${formatShape(t.shape)} (${expected})`);
    header[name] = { dtype: TAGS[t.dtype], shape: t.shape, data_offsets: [offset, offset + expected] };
    parts.push(new Uint8Array(t.data.buffer, t.data.byteOffset, expected));
    offset += expected;
  }
  const unpadded = new TextEncoder().encode(JSON.stringify(header));
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  const head = new Uint8Array(8 + Math.ceil(unpadded.length / 8) * 8).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(head.length - 8), true);
  head.set(unpadded, 8);
  return { head, parts, length: head.length + offset };
}

export function serializeSafetensors(tensors: Iterable<readonly [string, HostTensor]>, metadata: Record<string, string> = {}): Uint8Array {
  const { head, parts, length } = safetensorsLayout(tensors, metadata);
  const out = new Uint8Array(length);
  out.set(head);
  let at = head.length;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** One read or write call moves at most this much (the fs calls take 32-bit lengths). */
const IO_CHUNK = 1 << 30;

/**
 * Writes a temporary file beside `path` and renames it over `path`: a crash never leaves a partial file.
 * Tensors are written one by one from their own memory, so a checkpoint of several GiB (the paper's VP
 * multistage network with its EMA and Adam moments is 3.9 GB) needs no second copy of itself.
 */
export function writeSafetensors(path: string, tensors: Iterable<readonly [string, HostTensor]>, metadata: Record<string, string> = {}): void {
  const { head, parts } = safetensorsLayout(tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fd = openSync(tmp, 'w');
    try {
      for (const bytes of [head, ...parts]) {
        for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done, Math.min(IO_CHUNK, bytes.length - done));
      }
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // the temporary file was never created
    }
    throw new Error(`${path}: cannot write (${(e as Error).message})`);
  }
}

function openForReading(path: string): number {
  try {
    return openSync(path, 'r');
  } catch (e) {
    throw new Error(`${path}: cannot read (${(e as Error).message})`);
  }
}

/** A whole file's bytes, read in chunks: readFileSync refuses files over 2 GiB. */
export function readWholeFile(path: string): Uint8Array {
  const fd = openForReading(path);
  try {
    const size = fstatSync(fd).size;
    if (size > buffer.constants.MAX_LENGTH) throw new Error(`${path}: ${size} bytes is more than this Node.js can hold in memory (${buffer.constants.MAX_LENGTH}); use Node.js 22 or later`);
    const bytes = new Uint8Array(size);
    for (let done = 0; done < size; ) {
      const n = readSync(fd, bytes, done, Math.min(IO_CHUNK, size - done), done);
      if (n === 0) throw new Error(`${path}: truncated while reading (${done} of ${size} bytes)`);
      done += n;
    }
    return bytes;
  } catch (e) {
    throw new Error((e as Error).message.startsWith(path) ? (e as Error).message : `${path}: cannot read (${(e as Error).message})`);
  } finally {
    closeSync(fd);
  }
}
