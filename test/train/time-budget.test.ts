/**
 * Training for a wall-clock budget (`--minutes`, the GPU scripts' fixed-time runs): the run stops at the
 * first step boundary past the budget, well before its configured length, and leaves a final checkpoint,
 * grid and log line at exactly the images it saw; the run then resumes from there.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { type TrainingState, Trainer } from '../../src/train/trainer.js';
import { listCheckpoints, readCheckpointState } from '../../src/train/checkpoint.js';

T.setBackend(cpuBackend());

const config = (runDir: string) => ({
  runDir,
  device: 'cpu',
  data: { source: 'shapes', resolution: 8, count: 32 },
  model: { kind: 'multistage', network: { channel_mult: [1], num_blocks: 1, attn_resolutions: [], en_model_channels: 4, de_model_channels: [4, 4, 4] }, stageBoundaries: [0.442, 0.6308], stageUnits: 'vp-t' },
  formulation: { kind: 'vp' },
  training: { totalImages: 100_000_000, batchSize: 4, stageSampling: 'uniform' },
  output: { logEveryImages: 1_000_000, checkpointEveryImages: 1_000_000, snapshotEveryImages: 1_000_000, grid: { count: 1, steps: 2 } },
});

const lastLogLine = (path: string) => JSON.parse(readFileSync(path, 'utf8').trim().split('\n').at(-1)!) as { images: number; step: number };

test('a time budget stops a long run at a step boundary, with a checkpoint, a grid and a log line of the images seen', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagediff-budget-'));
  const result = await (await Trainer.create(config(dir))).run({ stopAfterSeconds: 0.3 });
  assert.ok(result.elapsedSeconds >= 0.3, `stopped after ${result.elapsedSeconds} s`);
  assert.ok(result.steps >= 1 && result.imagesSeen === 4 * result.steps && result.imagesSeen < 100_000_000);
  assert.equal(result.checkpoint, listCheckpoints(dir).at(-1));
  assert.match(result.checkpoint!, new RegExp(`checkpoint-0*${result.imagesSeen}\\.safetensors$`));
  assert.ok(result.grid !== null && existsSync(result.grid));
  const line = lastLogLine(result.log);
  assert.equal(line.images, result.imagesSeen);
  assert.equal(line.step, result.steps);
  // the next budgeted run continues from there
  const resumed = await Trainer.create(config(dir), { resume: true });
  assert.equal(resumed.imagesSeen, result.imagesSeen);
  const more = await resumed.run({ stopAfterSeconds: 0.1 });
  assert.ok(more.imagesSeen > result.imagesSeen);
});

test('`stagediff train --minutes M` is that budget; a budget that is not a positive number is refused', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagediff-budget-'));
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(config(join(dir, 'run'))));
  const cli = (...args: string[]) => spawnSync(process.execPath, [fileURLToPath(new URL('../../src/cli/main.js', import.meta.url)), 'train', '--config', configPath, ...args], { encoding: 'utf8' });
  const r = cli('--minutes', '0.005');
  assert.equal(r.status, 0, r.stderr);
  const images = Number(/done: (\d+) images/.exec(r.stdout)?.[1]);
  assert.ok(images > 0 && images < 100_000_000, r.stdout);
  assert.equal(lastLogLine(join(dir, 'run', 'log.jsonl')).images, images);
  for (const bad of ['0', '-1', 'soon']) {
    const b = cli(`--minutes=${bad}`, '--run-dir', join(dir, 'other'));
    assert.notEqual(b.status, 0);
    assert.match(b.stderr, new RegExp(`--minutes must be a positive number, got "${bad}"`));
  }
});

test('output.checkpointEveryMinutes writes a checkpoint each time the training time passes a mark, and one at the end', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagediff-budget-'));
  const every = 0.1;
  const base = config(dir);
  const result = await (await Trainer.create({ ...base, output: { ...base.output, checkpointEveryMinutes: every / 60, keepCheckpoints: 100 } })).run({ stopAfterSeconds: 0.45 });
  const states = listCheckpoints(dir).map((p) => readCheckpointState<TrainingState>(p).state);
  const marks = Math.floor(result.elapsedSeconds / every);
  assert.ok(marks >= 3, `${result.elapsedSeconds} s of training passed ${marks} marks`);
  // A checkpoint per mark passed, plus the final one unless the last step passed a mark itself.
  assert.ok(states.length === marks || states.length === marks + 1, `${states.length} checkpoints for ${marks} marks`);
  assert.equal(states.at(-1)!.imagesSeen, result.imagesSeen);
  states.slice(0, marks).forEach((s, k) => {
    assert.equal(Math.floor(s.elapsedSeconds / every), k + 1, `checkpoint ${k} at ${s.elapsedSeconds} s of training is not the first step past mark ${k + 1}`);
  });
  // Every checkpoint came from a later step than the one before.
  states.slice(1).forEach((s, k) => assert.ok(s.imagesSeen > states[k].imagesSeen));
});
