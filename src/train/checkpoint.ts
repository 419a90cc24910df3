/**
 * Checkpoints: one safetensors file per checkpoint holding the network, its EMA and Adam's moments by
 * name (`net.*`, `ema.*`, `adam.m.*`, `adam.v.*`), with the training state (step, images seen, random
 * generator and data loader positions, config, stage partition) as JSON in the file's metadata. One file
 * means one atomic rename: a run killed at any moment leaves the previous checkpoint intact, and a resumed
 * run continues exactly where the checkpoint was taken.
 */
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { HostTensor } from '../nn/safetensors.js';
import { readSafetensors, writeSafetensors } from '../nn/safetensors.js';

export const CHECKPOINT_FORMAT = 'stagediff-checkpoint-1';
const NAME = /^checkpoint-(\d{12})\.safetensors$/;

export interface CheckpointContents<State> {
  tensors: Map<string, HostTensor>;
  state: State;
  path: string;
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
  try {
    writeSafetensors(path, tensors, { format: CHECKPOINT_FORMAT, state: JSON.stringify(state) });
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

/** Reads a checkpoint file, or the newest one of a run folder. */
export function readCheckpoint<State>(pathOrDir: string): CheckpointContents<State> {
  let path = pathOrDir;
  let isDir = false;
  try {
    isDir = statSync(pathOrDir).isDirectory();
  } catch {
    throw new Error(`checkpoint ${pathOrDir} does not exist`);
  }
  if (isDir) {
    const all = listCheckpoints(pathOrDir);
    if (all.length === 0) throw new Error(`no checkpoint-*.safetensors in ${pathOrDir}`);
    path = all[all.length - 1];
  }
  const { tensors, metadata } = readSafetensors(path);
  if (metadata.format !== CHECKPOINT_FORMAT || !metadata.state) {
    throw new Error(`${path} is not a stagediff training checkpoint (its metadata has no "${CHECKPOINT_FORMAT}" state); to load bare weights use the library's loadStateDictFile`);
  }
  let state: State;
  try {
    state = JSON.parse(metadata.state) as State;
  } catch (e) {
    throw new Error(`${path}: the training state in its metadata is not valid JSON (${(e as Error).message})`);
  }
  return { tensors, state, path };
}

/** The tensors under `prefix.` with the prefix removed. */
export function withPrefix(tensors: ReadonlyMap<string, HostTensor>, prefix: string): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of tensors) if (name.startsWith(`${prefix}.`)) out.set(name.slice(prefix.length + 1), t);
  return out;
}
