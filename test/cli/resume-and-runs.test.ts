/**
 * The run folder as a user drives it from the command line: resuming with changed settings (the NaN
 * message's advice), branching from an older checkpoint, two processes on one folder, a damaged
 * checkpoint, and the flags and values that used to be ignored silently.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../data/temp-dir.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { readSafetensors, writeSafetensors } from '../../src/nn/safetensors.js';
import { LOCK_NAME } from '../../src/train/run-lock.js';
import { hostname } from 'node:os';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cli = (args: string[], cwd?: string) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', cwd, timeout: 120_000 });

/** A 20k-parameter U-Net on 8x8 shapes: a step takes milliseconds. */
function tinyConfigFile(dir: string): string {
  const path = join(dir, 'tiny.json');
  const config = {
    device: 'cpu',
    data: { source: 'shapes', resolution: 8, count: 64 },
    model: { kind: 'unified', network: { augment_dim: 0, dropout: 0, channel_mult: [1, 1], num_blocks: 1, attn_resolutions: [], model_channels: 8 } },
    training: { totalImages: 64, batchSize: 8, lr: 1e-3, lrRampUpImages: 0 },
    output: { logEveryImages: 8, checkpointEveryImages: 16, snapshotEveryImages: 1_000_000, grid: { count: 4, steps: 2, seed: 1 } },
  };
  writeFileSync(path, JSON.stringify(config));
  return path;
}

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const loggedLr = (dir: string) => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { images: number; lr: number }));

test('a run made to diverge, resumed as the NaN message advises, continues with the new settings', () => {
  const dir = tempDir();
  const run = join(dir, 'run');
  assert.equal(cli(['train', '--config', tinyConfigFile(dir), '--run-dir', run, '--images', '16']).status, 0);
  // a learning rate of 1e30 blows the weights up at the first step after the checkpoint
  const diverged = cli(['train', '--run-dir', run, '--resume', '--set', 'training.lr=1e30']);
  assert.equal(diverged.status, 1);
  assert.match(diverged.stderr, /changed on resume: training\.lr: 0\.001 -> 1e\+30/);
  const advice = /the loss became NaN at step \d+ .*Lower training\.lr or set training\.gradClip, then resume from (\S+) with --resume/.exec(diverged.stderr);
  assert.ok(advice, diverged.stderr);
  assert.equal(advice[1], join(run, 'checkpoint-000000000016.safetensors'));
  // the advice, followed
  const resumed = cli(['train', '--run-dir', run, '--resume', '--set', 'training.lr=1e-4', '--set', 'training.gradClip=1', '--images', '32']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resumed from .*checkpoint-000000000016\.safetensors at 16 images\n/);
  assert.match(resumed.stderr, /changed on resume: training\.lr: 0\.001 -> 0\.0001/);
  assert.match(resumed.stderr, /changed on resume: training\.gradClip: null -> 1/);
  assert.deepEqual(loggedLr(run).map((e) => [e.images, e.lr]), [[8, 1e-3], [16, 1e-3], [24, 1e-4], [32, 1e-4]]);
  // what would change the meaning of the saved state stays refused, each field named
  const refused = cli(['train', '--run-dir', run, '--resume', '--set', 'seed=5', '--set', 'model.network.model_channels=16', '--set', 'training.lr=1e-5']);
  assert.equal(refused.status, 1);
  assert.match(refused.stderr, /cannot resume from .*checkpoint-000000000032\.safetensors with these settings changed[^]*\n  seed: 0 -> 5\n  model\.network\.model_channels: 8 -> 16\n/);
  assert.doesNotMatch(refused.stderr, /training\.lr: /);
});

test('--resume-from an older checkpoint sets the newer ones aside instead of deleting them', () => {
  const dir = tempDir();
  const run = join(dir, 'run');
  assert.equal(cli(['train', '--config', tinyConfigFile(dir), '--run-dir', run, '--images', '48']).status, 0);
  const [first, second, third] = listCheckpoints(run);
  const digests = [sha(second), sha(third)];
  const log = readFileSync(join(run, 'log.jsonl'), 'utf8');
  const branch = cli(['train', '--run-dir', run, '--resume-from', first, '--set', 'training.lr=5e-4', '--images', '48']);
  assert.equal(branch.status, 0, branch.stderr);
  const aside = readdirSync(run).filter((n) => n.startsWith('set-aside-'));
  assert.equal(aside.length, 1);
  assert.match(branch.stderr, new RegExp(`moved them and a copy of log\\.jsonl to ${join(run, aside[0]).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const kept = join(run, aside[0]);
  assert.deepEqual(readdirSync(kept).sort(), ['checkpoint-000000000032.safetensors', 'checkpoint-000000000048.safetensors', 'log.jsonl']);
  assert.deepEqual([sha(join(kept, 'checkpoint-000000000032.safetensors')), sha(join(kept, 'checkpoint-000000000048.safetensors'))], digests);
  assert.equal(readFileSync(join(kept, 'log.jsonl'), 'utf8'), log);
  // the branch's own checkpoints are all there, and a plain --resume continues the branch
  assert.deepEqual(listCheckpoints(run).map((p) => basename(p)), ['checkpoint-000000000016.safetensors', 'checkpoint-000000000032.safetensors', 'checkpoint-000000000048.safetensors']);
  const next = cli(['train', '--run-dir', run, '--resume', '--images', '56']);
  assert.equal(next.status, 0, next.stderr);
  assert.match(next.stderr, /resumed from .*checkpoint-000000000048\.safetensors at 48 images/);
  assert.equal(loggedLr(run).at(-1)!.lr, 5e-4);
});

test('a run folder in use by another process is refused naming it; a killed process\'s lock is recognised', () => {
  const dir = tempDir();
  const run = join(dir, 'run');
  const config = tinyConfigFile(dir);
  assert.equal(cli(['train', '--config', config, '--run-dir', run, '--images', '8']).status, 0);
  assert.ok(!existsSync(join(run, LOCK_NAME)), 'a finished run leaves no lock');
  // this test's own process stands in for a live training process
  writeFileSync(join(run, LOCK_NAME), JSON.stringify({ pid: process.pid, host: hostname(), started: '2026-01-01T00:00:00.000Z' }));
  const busy = cli(['train', '--run-dir', run, '--resume', '--images', '16']);
  assert.equal(busy.status, 1);
  assert.match(busy.stderr, new RegExp(`is being trained by process ${process.pid} on ${hostname()} \\(started 2026-01-01T00:00:00\\.000Z\\)`));
  assert.equal(listCheckpoints(run).length, 1, 'the refused run wrote nothing');
  // the lock of a process that no longer exists (as kill -9 leaves it)
  const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
  writeFileSync(join(run, LOCK_NAME), JSON.stringify({ pid: Number(gone.stdout), host: hostname(), started: '2026-01-01T00:00:00.000Z' }));
  const after = cli(['train', '--run-dir', run, '--resume', '--images', '16']);
  assert.equal(after.status, 0, after.stderr);
  assert.match(after.stderr, new RegExp(`replaced the lock of process ${gone.stdout}, which is no longer running`));
  assert.ok(!existsSync(join(run, LOCK_NAME)));
});

test('a checkpoint with one flipped bit is refused naming the file; one without a checksum loads and says so', () => {
  const dir = tempDir();
  const run = join(dir, 'run');
  assert.equal(cli(['train', '--config', tinyConfigFile(dir), '--run-dir', run, '--images', '16']).status, 0);
  const [checkpoint] = listCheckpoints(run);
  const bytes = readFileSync(checkpoint);
  const flipped = join(dir, 'flipped.safetensors');
  const damaged = Buffer.from(bytes);
  damaged[damaged.length - 1000] ^= 0x04;
  writeFileSync(flipped, damaged);
  for (const args of [['train', '--run-dir', join(dir, 'b'), '--resume-from', flipped], ['sample', '--checkpoint', flipped, '--count', '1', '--out', join(dir, 's.png'), '--device', 'cpu']]) {
    const r = cli(args);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, new RegExp(`${flipped.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is corrupt: its tensor data does not match the checksum in its metadata`));
  }
  // a checkpoint of an earlier version: the same file without the checksum entry
  const { tensors, metadata } = readSafetensors(checkpoint);
  const { data_sha256: _, ...older } = metadata;
  const old = join(dir, 'old.safetensors');
  writeSafetensors(old, tensors, older);
  const r = cli(['train', '--run-dir', join(dir, 'c'), '--resume-from', old, '--images', '24']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /written before checkpoints had checksums: loaded without verifying its data/);
});

test('train without a preset or config starts nothing and says what to do', () => {
  const cwd = tempDir();
  const r = cli(['train'], cwd);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /train needs --preset NAME or --config FILE \(presets: quickstart, .*\).*stagediff train --preset quickstart/);
  assert.deepEqual(readdirSync(cwd), []);
  // --print-config alone resolves the defaults, which lack stage boundaries: said, and nothing started
  const printed = cli(['train', '--print-config'], cwd);
  assert.equal(printed.status, 1);
  assert.match(printed.stderr, /a multistage model needs its stage boundaries/);
  assert.deepEqual(readdirSync(cwd), []);
});

test('every command rejects unknown flags; info has its own help', () => {
  for (const command of ['train', 'sample', 'cluster', 'quickstart', 'bench', 'info']) {
    const r = cli([command, '--bogus']);
    assert.equal(r.status, 1, command);
    assert.match(r.stderr, /Unknown option '--bogus'/, command);
    assert.equal(r.stdout, '', command);
  }
  const help = cli(['info', '--help']);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /^usage: stagediff info\n/);
  assert.doesNotMatch(help.stdout, /backend cpu/);
});

test('settings that used to be ignored are errors: --data with shapes, prototype keys, --resume of nothing', () => {
  const dir = tempDir();
  const config = tinyConfigFile(dir);
  const fails = (args: string[], pattern: RegExp) => {
    const r = cli(args);
    assert.equal(r.status, 1, args.join(' '));
    assert.match(r.stderr, pattern);
  };
  fails(['train', '--preset', 'quickstart', '--data', join(dir, 'cifar'), '--print-config'], /data\.path \(.*cifar\) is set but data\.source is "shapes"[^]*--set data\.source=cifar10/);
  fails(['train', '--config', config, '--set', '__proto__.polluted=1', '--print-config'], /--set __proto__\.polluted: "__proto__" is not a setting name/);
  fails(['train', '--config', config, '--set', 'constructor.prototype.x=1', '--print-config'], /"constructor" is not a setting name/);
  fails(['train', '--config', config, '--set', 'model.network={"__proto__":{"x":1}}', '--print-config'], /"__proto__" is not a setting name/);
  const polluted = join(dir, 'polluted.json');
  writeFileSync(polluted, '{"__proto__": {"seed": 3}}');
  fails(['train', '--config', polluted, '--print-config'], /config: "__proto__" is not a setting name/);
  const missing = join(dir, 'never-trained');
  fails(['train', '--config', config, '--run-dir', missing, '--resume'], new RegExp(`cannot resume: ${missing.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} does not exist`));
  fails(['train', '--run-dir', missing, '--resume'], /cannot resume: .* does not exist \(leave out --resume to start a new run there\)/);
  assert.ok(!existsSync(missing));
});

test('a run folder under /proc is refused at once instead of hanging', { skip: process.platform !== 'linux' }, () => {
  const dir = tempDir();
  for (const command of [['train', '--config', tinyConfigFile(dir)], ['quickstart', '--device', 'cpu']]) {
    const r = spawnSync(process.execPath, [CLI, ...command, '--run-dir', '/proc/stagediff-test/run'], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 1, `${command[0]}: ${r.error?.message ?? r.stderr}`);
    assert.match(r.stderr, /\/proc\/stagediff-test\/run is on the kernel's proc file system, which cannot hold files/);
  }
});

test('a multistage checkpoint from before boundaries were required resumes with the boundaries it trained with', () => {
  const dir = tempDir();
  const configPath = tinyConfigFile(dir);
  const config = JSON.parse(readFileSync(configPath, 'utf8')) as { model: Record<string, unknown> };
  config.model = { kind: 'multistage', stageBoundaries: [2.5103, 7.6577], network: { augment_dim: 0, dropout: 0, channel_mult: [1, 1], num_blocks: 1, attn_resolutions: [], en_model_channels: 8, de_model_channels: [8, 8, 4] } };
  writeFileSync(configPath, JSON.stringify(config));
  const run = join(dir, 'run');
  assert.equal(cli(['train', '--config', configPath, '--run-dir', run, '--images', '16']).status, 0);
  // rewrite it as an older version wrote it: no boundaries in its config (the silent default), no checksum
  const [checkpoint] = listCheckpoints(run);
  const { tensors, metadata } = readSafetensors(checkpoint);
  const state = JSON.parse(metadata.state) as { config: { model: Record<string, unknown> } };
  state.config.model.stageBoundaries = null;
  writeSafetensors(checkpoint, tensors, { format: metadata.format, state: JSON.stringify(state) });
  const r = cli(['train', '--run-dir', run, '--resume', '--images', '24']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /stages at sigma 2\.5103, 7\.6577/);
  assert.doesNotMatch(r.stderr, /changed on resume/);
});
