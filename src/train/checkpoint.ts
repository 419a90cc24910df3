/**
 * Checkpoints: one safetensors file per checkpoint holding the network, its EMA and Adam's moments by
 * name (`net.*`, `ema.*`, `adam.m.*`, `adam.v.*`), with the training state (step, images seen, random
 * generator and data loader positions, config, stage partition) as JSON in the file's metadata. One file
 * means one atomic rename: a run killed at any moment leaves the previous checkpoint intact, and a resumed
 * run continues exactly where the checkpoint was taken. The metadata also holds the SHA-256 of the data
 * section, checked on every load: a flipped bit on disk or in a copy is an error, not a silently different
 * model. Checkpoints written before the checksum existed load without that check (`verified: false`).
 */
import { type Hash, createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { HostTensor } from '../nn/safetensors.js';
import { dataSectionOffset, parseSafetensors, readSafetensorsMetadata, readWholeFile, writeSafetensors } from '../nn/safetensors.js';

export const CHECKPOINT_FORMAT = 'stagediff-checkpoint-1';
/** Metadata key of the hex SHA-256 of the data section. */
export const CHECKSUM_KEY = 'data_sha256';
const NAME = /^checkpoint-(\d{12})\.safetensors$/;

export interface CheckpointContents<State> {
  tensors: Map<string, HostTensor>;
  state: State;
  path: string;
  /** Whether the data section matched the checksum in the metadata (false: an older file without one). */
  verified: boolean;
}

export function checkpointName(imagesSeen: number): string {
  return `checkpoint-${String(imagesSeen).padStart(12, '0')}.safetensors`;
}

/** Checkpoint files of a run folder, oldest first. */
export function listCheckpoints(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names.filter((n) => NAME.test(n)).sort().map((n) => join(dir, n));
}

export function writeCheckpoint(dir: string, imagesSeen: number, tensors: Iterable<readonly [string, HostTensor]>, state: unknown, keep: number): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, checkpointName(imagesSeen));
  const list = [...tensors];
  // The data section is the tensors' bytes in this order, as the writer lays them out.
  const hash = createHash('sha256');
  for (const [, t] of list) updateInChunks(hash, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  try {
    writeSafetensors(path, list, { format: CHECKPOINT_FORMAT, state: JSON.stringify(state), [CHECKSUM_KEY]: hash.digest('hex') });
  } catch (e) {
    const message = (e as Error).message;
    const hint = /ENOSPC/.test(message) ? ' The disk is full: free space and resume; the previous checkpoint is intact.' : ' The previous checkpoint is intact.';
    throw new Error(`could not write checkpoint ${path}: ${message}.${hint}`);
  }
  // Only after the new file is in place are old ones removed.
  const all = listCheckpoints(dir);
  for (const old of all.slice(0, Math.max(0, all.length - keep))) unlinkSync(old);
  return path;
}

/** Deletes partial checkpoint files a killed run left behind (never a complete checkpoint). */
export function removeStaleTemporaries(dir: string): void {
  for (const n of readdirSync(dir)) if (/^checkpoint-\d{12}\.safetensors\.tmp-\d+$/.test(n)) unlinkSync(join(dir, n));
}

/** The checkpoint file a path names: the file itself, or the newest checkpoint of a run folder. */
export function resolveCheckpointPath(pathOrDir: string): string {
  let isDir = false;
  try {
    isDir = statSync(pathOrDir).isDirectory();
  } catch {
    throw new Error(`checkpoint ${pathOrDir} does not exist`);
  }
  if (!isDir) return pathOrDir;
  const all = listCheckpoints(pathOrDir);
  if (all.length === 0) throw new Error(`no checkpoint-*.safetensors in ${pathOrDir}`);
  return all[all.length - 1];
}

function parseState<State>(path: string, metadata: Record<string, string>): State {
  if (metadata.format !== CHECKPOINT_FORMAT || !metadata.state) {
    throw new Error(`${path} is not a stagediff training checkpoint (its metadata has no "${CHECKPOINT_FORMAT}" state); to load bare weights use the library's loadStateDictFile`);
  }
  try {
    return JSON.parse(metadata.state) as State;
  } catch (e) {
    throw new Error(`${path}: the training state in its metadata is not valid JSON (${(e as Error).message})`);
  }
}

/** The training state of a checkpoint (or a run folder's newest) from its header alone, without the tensors. */
export function readCheckpointState<State>(pathOrDir: string): { state: State; path: string } {
  const path = resolveCheckpointPath(pathOrDir);
  return { state: parseState<State>(path, readSafetensorsMetadata(path)), path };
}

/** Reads a checkpoint file, or the newest one of a run folder, verifying its checksum when it has one. */
export function readCheckpoint<State>(pathOrDir: string): CheckpointContents<State> {
  const path = resolveCheckpointPath(pathOrDir);
  const bytes = readWholeFile(path);
  const { tensors, metadata } = parseSafetensors(bytes, path);
  const state = parseState<State>(path, metadata);
  const expected = metadata[CHECKSUM_KEY];
  if (expected !== undefined) {
    const actual = sha256(bytes.subarray(dataSectionOffset(bytes)));
    if (actual !== expected) {
      throw new Error(
        `${path} is corrupt: its tensor data does not match the checksum in its metadata (a damaged disk, an interrupted copy or a flipped bit). ` +
          'Copy it again from a good source, or resume from an older checkpoint with --resume-from.',
      );
    }
  }
  return { tensors, state, path, verified: expected !== undefined };
}

/**
 * Resuming from an older checkpoint of a folder that holds newer ones branches the run: the newer
 * checkpoints and the log would otherwise be pruned or cut back. They are moved into a `set-aside-<time>`
 * folder first (renames, nothing copied but the log). Returns that folder, or null when nothing was newer.
 */
export function setAsideNewerCheckpoints(dir: string, imagesSeen: number): string | null {
  const newer = listCheckpoints(dir).filter((p) => Number(NAME.exec(p.slice(dir.length + 1))![1]) > imagesSeen);
  if (newer.length === 0) return null;
  const aside = join(dir, `set-aside-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(aside);
  const log = join(dir, 'log.jsonl');
  if (existsSync(log)) copyFileSync(log, join(aside, 'log.jsonl'));
  for (const p of newer) renameSync(p, join(aside, p.slice(dir.length + 1)));
  return aside;
}

/** The tensors under `prefix.` with the prefix removed. */
export function withPrefix(tensors: ReadonlyMap<string, HostTensor>, prefix: string): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) if (name.startsWith(`${prefix}.`)) out.set(name.slice(prefix.length + 1), t);
  return out;
}

/** Hash.update takes at most 2 GiB at once; a large checkpoint's tensors and data section are longer. */
function updateInChunks(hash: Hash, bytes: Uint8Array): void {
  for (let at = 0; at < bytes.length; at += 1 << 30) hash.update(bytes.subarray(at, Math.min(bytes.length, at + (1 << 30))));
}

function sha256(bytes: Uint8Array): string {
  const hash = createHash('sha256');
  updateInChunks(hash, bytes);
  return hash.digest('hex');
}
