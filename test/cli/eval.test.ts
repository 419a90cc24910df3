/**
 * Evaluation end to end on the CPU, as a user runs it: a tiny trained model, `sample --out x.npz`,
 * `featnet`, `fid-stats` and `eval` (of the npz and of the checkpoint, logged to the run), and the
 * errors that must come before any work and leave nothing written.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { trainTinyRun } from './tiny-run.js';
import { writeNpz } from '../../src/data/npz.js';
import { readReferenceStatistics } from '../../src/eval/reference-stats.js';
import { serializeSafetensors } from '../../src/nn/safetensors.js';

T.setBackend(cpuBackend());
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'stagediff-eval-'));
const runDir = join(dir, 'run');
const SHAPES = ['--source', 'shapes', '--resolution', '8', '--shapes-count', '200', '--device', 'cpu'];

function cli(args: string[], env: Record<string, string | undefined> = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', env: { ...process.env, STAGEDIFF_INCEPTION: undefined, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function ok(args: string[]): string {
  const r = cli(args);
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

function fails(args: string[], message: RegExp, env: Record<string, string | undefined> = {}): void {
  const r = cli(args, env);
  assert.equal(r.status, 1, `expected a failure: ${r.stdout}`);
  assert.match(r.stderr, message);
}

/** The number after the metric's name in eval's report line. */
function reported(stdout: string, metric: string): number {
  const m = stdout.match(new RegExp(`^${metric} (\\S+):`, 'm'));
  assert.ok(m, `no "${metric} <value>:" in ${stdout}`);
  return Number(m[1]);
}

const featnet = join(dir, 'featnet.safetensors');
const ref = join(dir, 'ref.npz');
const samples = join(dir, 'x.npz');

test.before(() => trainTinyRun(runDir));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('sample, featnet, fid-stats, eval: finite FD_featnet, the same npz twice, the checkpoint scored as its samples and logged', () => {
  ok(['sample', '--checkpoint', runDir, '--device', 'cpu', '--steps', '4', '--count', '40', '--batch', '16', '--out', samples]);
  const again = join(dir, 'again.npz');
  ok(['sample', '--checkpoint', runDir, '--device', 'cpu', '--steps', '4', '--count', '40', '--batch', '16', '--out', again]);
  assert.ok(readFileSync(again).equals(readFileSync(samples)), 'the same seeds gave different npz files');

  assert.match(ok(['featnet', ...SHAPES, '--width', '4', '--epochs', '1', '--batch', '32', '--out', featnet]), /held-out accuracy \d+\.\d+% on 20 images .* 16-d features; wrote/);
  assert.match(ok(['fid-stats', ...SHAPES, '--featnet', featnet, '--out', ref]), /FD_featnet reference statistics of 200 images/);
  const stats = readReferenceStatistics(ref);
  assert.equal(stats.statistics.dim, 16);
  assert.equal(stats.identity?.metric, 'fd_featnet');

  const ofImages = reported(ok(['eval', '--images', samples, '--ref', ref, '--featnet', featnet, '--device', 'cpu']), 'FD_featnet');
  assert.ok(Number.isFinite(ofImages) && ofImages > 0, `FD_featnet ${ofImages}`);
  assert.equal(reported(ok(['eval', '--images', samples, '--ref', ref, '--featnet', featnet, '--device', 'cpu', '--batch', '7']), 'FD_featnet').toFixed(3), ofImages.toFixed(3));

  const stdout = ok(['eval', '--checkpoint', runDir, '--ref', ref, '--featnet', featnet, '--count', '40', '--batch', '16', '--steps', '4', '--device', 'cpu']);
  assert.doesNotMatch(stdout, /FID/);
  assert.match(stdout, /cost per stage on cpu: heun, 4 steps, 7 evaluations per image[^]*\| one image \|/);
  assert.equal(reported(stdout, 'FD_featnet').toFixed(3), ofImages.toFixed(3));
  const lines = readFileSync(join(runDir, 'log.jsonl'), 'utf8').trim().split('\n');
  const entry = JSON.parse(lines[lines.length - 1]);
  assert.equal(entry.event, 'eval');
  assert.equal(entry.metric, 'fd_featnet');
  assert.equal(entry.count, 40);
  assert.equal(entry.images, 32);
  assert.match(entry.checkpoint, /^checkpoint-.*\.safetensors$/);
  assert.deepEqual([entry.sampler.name, entry.sampler.steps, entry.sampler.evaluations], ['heun', 4, 7]);
  assert.ok(Math.abs(entry.value - ofImages) < 1e-3 && entry.seconds > 0);
});

test('eval and fid-stats errors: missing or wrong Inception weights, a ref of another feature size, fewer than 2 images; nothing written', () => {
  const out = join(dir, 'never.npz');
  fails(['fid-stats', ...SHAPES, '--out', out], /neither --inception nor STAGEDIFF_INCEPTION is set.*\n.*download pt_inception-2015-12-05-6726825d\.pth/);
  fails(['fid-stats', ...SHAPES, '--out', out], /STAGEDIFF_INCEPTION\) does not exist/, { STAGEDIFF_INCEPTION: join(dir, 'missing.safetensors') });
  const bogus = join(dir, 'bogus.safetensors');
  writeFileSync(bogus, serializeSafetensors([['fc.weight', { dtype: 'float32', shape: [2], data: new Float32Array(2) }]]));
  fails(['fid-stats', ...SHAPES, '--inception', bogus, '--out', out], /is not pytorch-fid's FID Inception-v3 state dict .*it has no tensor Conv2d_1a_3x3\.conv\.weight/);
  fails(['fid-stats', ...SHAPES, '--featnet', featnet, '--out', join(dir, 'no-such-folder', 'ref.npz')], /no-such-folder.*does not exist/);
  fails(['fid-stats', ...SHAPES, '--featnet', featnet, '--inception', bogus, '--out', out], /not both/);
  assert.ok(!existsSync(out));

  const wide = join(dir, 'wide.safetensors');
  ok(['featnet', ...SHAPES, '--width', '8', '--epochs', '1', '--batch', '32', '--out', wide]);
  fails(['eval', '--images', samples, '--ref', ref, '--featnet', wide, '--device', 'cpu'], /ref\.npz holds statistics of 16-d features \(FD_featnet .*\), but FD_featnet features \(32-d, .*\) are 32-d/);
  const retrained = join(dir, 'retrained.safetensors');
  ok(['featnet', ...SHAPES, '--width', '4', '--epochs', '1', '--batch', '32', '--seed', '1', '--out', retrained]);
  fails(['eval', '--images', samples, '--ref', ref, '--featnet', retrained, '--device', 'cpu'], /holds FD_featnet features \(16-d, featnet sha256:\w+\), but this evaluation uses FD_featnet features \(16-d, featnet sha256:\w+\)/);
  const published = join(dir, 'published.npz');
  writeNpz(published, { mu: { dtype: '<f8', shape: [16], data: new Float64Array(16) }, sigma: { dtype: '<f8', shape: [16, 16], data: new Float64Array(256) } });
  fails(['eval', '--images', samples, '--ref', published, '--featnet', featnet, '--device', 'cpu'], /no record of its feature network/);

  const one = join(dir, 'one.npz');
  writeNpz(one, { arr_0: { dtype: '|u1', shape: [1, 8, 8, 3], data: new Uint8Array(192) } });
  fails(['eval', '--images', one, '--ref', ref, '--featnet', featnet, '--device', 'cpu'], /holds 1 image; a Frechet distance needs the statistics of at least 2 images/);
  fails(['eval', '--checkpoint', runDir, '--ref', ref, '--featnet', featnet, '--count', '1', '--device', 'cpu'], /--count must be a whole number >= 2, got "1"/);
  fails(['eval', '--checkpoint', runDir, '--ref', ref, '--featnet', featnet, '--bogus', '1'], /Unknown option '--bogus'/);
  fails(['featnet', ...SHAPES, '--out', join(dir, 'no-such-folder', 'f.safetensors')], /does not exist/);
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('.tmp')), []);
});
