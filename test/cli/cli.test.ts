import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { StagePartition } from '../../src/stages/stage-partition.js';
import { probeCuda } from '../../src/backend/cuda/index.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const run = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

test('--help lists the commands and info reports the backends', () => {
  const help = run(['--help']);
  assert.equal(help.status, 0);
  for (const c of ['train', 'sample', 'cluster', 'quickstart', 'report', 'bench', 'info']) assert.match(help.stdout, new RegExp(`\\n  ${c}\\s`));
  const info = run(['info']);
  assert.equal(info.status, 0);
  assert.match(info.stdout, /backend cpu: available, \d+ threads/);
  // what info says about CUDA is what the probe finds in this environment, word for word
  const cuda = probeCuda();
  if (cuda.available) assert.match(info.stdout, new RegExp(`\\nbackend cuda: available, ${cuda.device!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(compute`));
  else assert.ok(info.stdout.includes(`backend cuda: not available (the CPU backend is used):\n${cuda.missing.map((m) => `  - ${m}\n`).join('')}`), info.stdout);
  assert.match(info.stdout, /\nseveral GPUs \(train --gpus\): (NCCL \d+\.\d+\.\d+ \(.+\)|not available: .+)\n$/);
  const unknown = run(['frobnicate']);
  assert.equal(unknown.status, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate"/);
});

test('the quickstart path runs end to end: clustering, training with its boundaries, grid, report', () => {
  const dir = join(mkdtempSync(join(tmpdir(), 'stagediff-qs-')), 'run');
  const r = run(['quickstart', '--run-dir', dir, '--images', '32', '--device', 'cpu']);
  assert.equal(r.status, 0, r.stderr);
  const partition = StagePartition.fromJSON(JSON.parse(readFileSync(join(dir, 'partition.json'), 'utf8')));
  assert.equal(partition.numStages, 3);
  const report = readFileSync(join(dir, 'report.md'), 'utf8');
  assert.match(report, new RegExp(`sigma ${partition.boundaries.map((b) => b.toFixed(3)).join(' / ')}`));
  assert.match(report, /trained 32 images/);
  for (const f of ['partition.png', 'log.jsonl', 'grid-000000000032.png', 'samples.png', 'checkpoint-000000000032.safetensors', 'run.json', 'report.html']) assert.ok(existsSync(join(dir, f)), f);
  assert.ok(readFileSync(join(dir, 'report.html'), 'utf8').includes(readFileSync(join(dir, 'partition.png')).toString('base64')), 'the run report shows the partition plot');
});

test('cluster writes a partition that train reads, and rejects bad settings by name', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagediff-cluster-'));
  const out = join(dir, 'p.json');
  const r = run(['cluster', '--source', 'shapes', '--resolution', '8', '--limit', '128', '--method', 'uniform', '--stages', '4', '--out', out, '--device', 'cpu']);
  assert.equal(r.status, 0, r.stderr);
  const json = JSON.parse(readFileSync(out, 'utf8')) as { sigma_boundaries: number[]; boundaries: { t: number }[] };
  // uniform in t over the official axis [1e-3, 1]
  json.boundaries.forEach((b, k) => assert.ok(Math.abs(b.t - (1e-3 + ((k + 1) * (1 - 1e-3)) / 4)) < 1e-12, `boundary ${k}: t ${b.t}`));
  assert.equal(StagePartition.fromJSON(json).numStages, 4);
  const resolved = run(['train', '--stages-from', out, '--print-config']);
  assert.equal(resolved.status, 0, resolved.stderr);
  assert.equal((JSON.parse(resolved.stdout) as { model: { stagesFrom: string } }).model.stagesFrom, out);
  const bad = run(['cluster', '--source', 'shapes', '--method', 'algorithm1', '--alpha', '1.5', '--out', join(dir, 'x.json'), '--device', 'cpu']);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /alpha/);
});

test('bench --stage-mix takes three positive shares and the multistage network, and says so otherwise', () => {
  const single = run(['bench', '--device', 'cpu', '--stage-mix', '0.5,0.3,0.2']);
  assert.equal(single.status, 1);
  assert.match(single.stderr, /--stage-mix needs --arch multistage/);
  for (const bad of ['1,2', '0.5,0,0.5', '0.5,x,0.2']) {
    const r = run(['bench', '--arch', 'multistage', '--device', 'cpu', '--stage-mix', bad]);
    assert.equal(r.status, 1, bad);
    assert.match(r.stderr, /--stage-mix takes three positive shares, one per stage/, bad);
  }
});

test('bench --decoders takes three positive integer widths and the multistage network, and sets them', () => {
  const single = run(['bench', '--device', 'cpu', '--decoders', '128,128,16']);
  assert.equal(single.status, 1);
  assert.match(single.stderr, /--decoders needs --arch multistage/);
  for (const bad of ['128,16', '128,0,16', '128,1.5,16']) {
    const r = run(['bench', '--arch', 'multistage', '--device', 'cpu', '--decoders', bad]);
    assert.equal(r.status, 1, bad);
    assert.match(r.stderr, /--decoders takes three positive integer widths, one per stage/, bad);
  }
  // The cost table counts the network built with these widths: a 16-wide stage-1 decoder has the
  // stage-2 decoder's parameters.
  const cost = run(['bench', '--arch', 'multistage', '--device', 'cpu', '--decoders', '32,16,16', '--cost', '--iters', '1', '--sample-batch', '1']);
  assert.equal(cost.status, 0, cost.stderr);
  const row = JSON.parse(cost.stdout.split('\n').find((l) => l.includes('"cost per stage"'))!);
  const stages = row.cost.stages as { ownParameters: number }[];
  assert.equal(stages[1].ownParameters, stages[2].ownParameters);
  assert.ok(stages[0].ownParameters > stages[1].ownParameters);
});
