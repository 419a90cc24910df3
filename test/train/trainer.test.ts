/**
 * The whole job on tiny data, through the library and through the CLI as a user runs it: loss falls,
 * a run killed at any moment resumes to the same weights bit for bit, checkpoints load in `sample`,
 * per-stage logs exist, and bad input fails with a message naming the problem.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Trainer } from '../../src/train/trainer.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { readSafetensors } from '../../src/nn/safetensors.js';
import { tinyMultistageModel } from '../helpers/tiny-model.js';

T.setBackend(cpuBackend());
const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function tinyConfig(runDir: string, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    runDir,
    device: 'cpu',
    data: { source: 'shapes', resolution: 8, count: 256 },
    model: tinyMultistageModel(),
    training: { totalImages: 512, batchSize: 16, lr: 2e-3, lrRampUpImages: 64, stageSampling: 'balanced', ema: { halfLifeImages: 100 } },
    output: { logEveryImages: 64, checkpointEveryImages: 64, snapshotEveryImages: 100000, keepCheckpoints: 20, grid: { count: 4, steps: 3 } },
    ...overrides,
  };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'stagediff-train-'));
}

function tensorsOf(path: string): Map<string, Uint8Array> {
  const { tensors } = readSafetensors(path);
  return new Map([...tensors].map(([k, t]) => [k, new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}

function assertSameTensors(a: string, b: string): void {
  const x = tensorsOf(a);
  const y = tensorsOf(b);
  assert.deepEqual([...x.keys()], [...y.keys()]);
  for (const [k, v] of x) assert.ok(Buffer.from(v).equals(Buffer.from(y.get(k)!)), `${k} differs between ${a} and ${b}`);
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('the loss falls and every stage that trained has a per-stage log', async () => {
  const dir = tempDir();
  const trainer = await Trainer.create(tinyConfig(dir, { training: { ...(tinyConfig(dir).training as object), totalImages: 1536 } }));
  const result = await trainer.run();
  const lines = readFileSync(result.log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number; lossPerStage: (number | null)[]; samplesPerStage: number[] });
  const mean = (xs: { loss: number }[]) => xs.reduce((a, b) => a + b.loss, 0) / xs.length;
  const first = mean(lines.slice(0, 3));
  const last = mean(lines.slice(-3));
  assert.ok(last < 0.8 * first, `loss did not fall: first ${first}, last ${last}`);
  for (const l of lines) {
    assert.equal(l.lossPerStage.length, 3);
    l.samplesPerStage.forEach((n, s) => assert.ok(n > 0 && l.lossPerStage[s] !== null, `stage ${s} has no loss in a balanced run`));
  }
});

test('a run killed at any moment resumes to the same weights as one that was not killed', async () => {
  const dir = tempDir();
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(tinyConfig(join(dir, 'unused'))));
  const straight = cli(['train', '--config', configPath, '--run-dir', join(dir, 'straight')]);
  assert.equal(straight.status, 0, straight.stderr);

  // Kill with SIGKILL once the second checkpoint exists (mid-step, mid-write or between: wherever it lands).
  const killedDir = join(dir, 'killed');
  const child = spawn(process.execPath, [CLI, 'train', '--config', configPath, '--run-dir', killedDir], { stdio: 'ignore' });
  await new Promise<void>((resolve) => {
    const poll = setInterval(() => {
      if (listCheckpoints(killedDir).length >= 2 || child.exitCode !== null) {
        clearInterval(poll);
        child.kill('SIGKILL');
        resolve();
      }
    }, 5);
  });
  await new Promise((r) => child.once('exit', r));
  const survivors = listCheckpoints(killedDir);
  assert.ok(survivors.length >= 1, 'no checkpoint survived the kill');
  const resumed = cli(['train', '--config', configPath, '--run-dir', killedDir, '--resume']);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stderr, /resumed from/);
  const final = (d: string) => listCheckpoints(d).at(-1)!;
  assertSameTensors(final(join(dir, 'straight')), final(killedDir));
  assert.deepEqual(readdirSync(killedDir).filter((n) => n.includes('.tmp-')), [], 'a partial checkpoint was left behind');
  // the log of the resumed run has each interval once, as the uninterrupted run's
  const logged = (d: string) => readFileSync(join(d, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { images: number }).images);
  assert.deepEqual(logged(killedDir), logged(join(dir, 'straight')));
  // starting afresh over a run's checkpoints is refused rather than overwriting them
  const again = cli(['train', '--config', configPath, '--run-dir', killedDir]);
  assert.equal(again.status, 1);
  assert.match(again.stderr, /already holds checkpoints of a run: continue it with --resume/);
});

test('a checkpoint loads in `stagediff sample`, which counts evaluations per stage', () => {
  const dir = tempDir();
  const configPath = join(dir, 'config.json');
  writeFileSync(configPath, JSON.stringify(tinyConfig(join(dir, 'run'), { training: { ...(tinyConfig(dir).training as object), totalImages: 64 } })));
  assert.equal(cli(['train', '--config', configPath]).status, 0);
  const out = join(dir, 'grid.png');
  const r = cli(['sample', '--checkpoint', join(dir, 'run'), '--count', '4', '--steps', '18', '--out', out, '--device', 'cpu']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /35 network evaluations \(per stage 18 \/ 4 \/ 13\)/);
  assert.ok(readFileSync(out).subarray(1, 4).toString() === 'PNG');
  // EDM's stochastic sampler: the same evaluation count, other images
  const churned = join(dir, 'churned.png');
  const c = cli(['sample', '--checkpoint', join(dir, 'run'), '--count', '4', '--steps', '18', '--churn', '40', '--out', churned, '--device', 'cpu']);
  assert.equal(c.status, 0, c.stderr);
  assert.match(c.stdout, /35 network evaluations/);
  assert.notDeepEqual(readFileSync(churned), readFileSync(out));
  const wrong = cli(['sample', '--checkpoint', join(dir, 'run'), '--sampler', 'ddim', '--churn', '40', '--device', 'cpu']);
  assert.match(wrong.stderr, /--churn applies to the heun and euler samplers, not ddim/);
});

test('bad input fails with a message that names the problem, and loses nothing', async () => {
  const dir = tempDir();
  const bad = (args: string[], pattern: RegExp) => {
    const r = cli(args);
    assert.equal(r.status, 1);
    assert.match(r.stderr, pattern);
  };
  bad(['train', '--preset', 'nope'], /unknown preset "nope"; presets: quickstart/);
  bad(['train', '--preset', 'cifar10-edm-ddpmpp', '--data', join(dir, 'missing'), '--images', '1'], new RegExp(`CIFAR-10 data not found: ${join(dir, 'missing')} does not exist\\. Download the binary version of CIFAR-10`));
  bad(['train', '--set', 'training.batchSize="big"', '--print-config'], /training\.batchSize must be a whole number/);
  bad(['train', '--set', 'training.bogus=1', '--print-config'], /training\.bogus is not a known setting/);
  bad(['sample', '--checkpoint', join(dir, 'nothing-here')], /does not exist/);
  bad(['sample', '--checkpoint', join(dir, 'nothing-here'), '--precision', 'fp16'], /--precision must be one of fp32, tf32, bf16, got "fp16"/);

  // a checkpoint of another architecture
  const a = join(dir, 'a');
  const config = tinyConfig(a, { training: { ...(tinyConfig(a).training as object), totalImages: 16 } });
  await (await Trainer.create(config)).run();
  const other = tinyConfig(join(dir, 'b'), { model: { kind: 'unified', network: { channel_mult: [1, 2], num_blocks: 1, model_channels: 8 } } });
  await assert.rejects(Trainer.create(other, { resume: listCheckpoints(a)[0] }), /cannot resume from .*checkpoint-000000000016\.safetensors with these settings changed[^]*model\.kind: "multistage" -> "unified"/);

  // a checkpoint that cannot be written: the previous one stays intact and the error says why
  const c = join(dir, 'c');
  const t1 = await Trainer.create(tinyConfig(c, { training: { ...(tinyConfig(c).training as object), totalImages: 64 } }));
  await t1.run();
  const kept = listCheckpoints(c);
  const before = readFileSync(kept.at(-1)!);
  const t2 = await Trainer.create(tinyConfig(c, { training: { ...(tinyConfig(c).training as object), totalImages: 128 } }), { resume: true });
  // a directory where the temporary file would go makes the write fail, as a full disk would
  const blocker = join(c, `checkpoint-000000000128.safetensors.tmp-${process.pid}`);
  const run = t2.run();
  mkdirSync(blocker);
  await assert.rejects(run, /could not write checkpoint .*previous checkpoint is intact/);
  assert.ok(readFileSync(kept.at(-1)!).equals(before));
  assert.ok(existsSync(kept.at(-1)!));
});

test('a NaN loss stops the run before the weights change, naming the last checkpoint', async () => {
  const dir = tempDir();
  const config = tinyConfig(dir, { training: { ...(tinyConfig(dir).training as object), totalImages: 128 } });
  await (await Trainer.create({ ...config, training: { ...(config.training as object), totalImages: 64 } })).run();
  const trainer = await Trainer.create(config, { resume: true });
  const before = tensorsOf(listCheckpoints(dir).at(-1)!);
  const weights = () => trainer.model.net.parameters().map((p) => Buffer.from(p.toFloat32Array().buffer));
  const start = weights();
  const original = trainer.model.loss.bind(trainer.model);
  trainer.model.loss = (x0, sigma, noise, g) => T.mulScalar(original(x0, sigma, noise, g), NaN);
  await assert.rejects(trainer.run(), /the loss became NaN at step 5 \(after 64 images\); the weights were not updated[^]*resume from .*checkpoint-000000000064/);
  weights().forEach((w, i) => assert.ok(w.equals(start[i]), `parameter ${i} changed`));
  assert.equal(listCheckpoints(dir).length, 1);
  assert.deepEqual([...tensorsOf(listCheckpoints(dir)[0]).keys()], [...before.keys()]);
});
