/** `stagediff train --gpus N` as a user runs it, where it can be run without GPUs: its refusals and failures. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeCuda } from '../../src/backend/cuda/index.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function train(args: string[], env: NodeJS.ProcessEnv = {}) {
  const runDir = mkdtempSync(join(tmpdir(), 'stagediff-gpus-'));
  return spawnSync(process.execPath, [CLI, 'train', '--preset', 'quickstart', '--run-dir', runDir, ...args], { encoding: 'utf8', env: { ...process.env, ...env } });
}

test('--gpus refuses a bad count, and refuses to start ranks inside a rank', () => {
  assert.match(train(['--gpus', '0']).stderr, /--gpus must be/);
  const inRank = train(['--gpus', '2'], { RANK: '0', WORLD_SIZE: '1', LOCAL_RANK: '0', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29555' });
  assert.notEqual(inRank.status, 0);
  assert.match(inRank.stderr, /--gpus starts its own ranks/);
  assert.match(train([], { RANK: '0', WORLD_SIZE: '2' }).stderr, /LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not/);
  assert.match(train(['--device', 'cpu'], { RANK: '0', WORLD_SIZE: '1', LOCAL_RANK: '0', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '29555' }).stderr, /device cpu is not possible where RANK and WORLD_SIZE are set/);
});

const cuda = probeCuda();
test('without a GPU, --gpus 2 ends with the failing rank named and its reason printed', { skip: cuda.available ? 'a GPU is here: scripts/gpu-nccl-check.sh runs --gpus for real' : false }, () => {
  const r = train(['--gpus', '2', '--images', '64']);
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /the CUDA backend cannot start/);
  assert.match(r.stderr, /rank [01] exited with code 1 \(its message is above\); the other ranks were stopped/);
});
