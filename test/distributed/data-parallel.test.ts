/**
 * The rank logic of data-parallel training on the CPU, with NCCL replaced by the thread group (the test
 * double at the same interface): N ranks with batch B give the weights of one process with batch B, a
 * run resumes with another number of ranks, a rank that fails stops the others with its message.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import * as T from '../../src/tensor/index.js';
import { isGradEnabled } from '../../src/tensor/engine.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Trainer } from '../../src/train/trainer.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { ThreadCommunicator, threadGroup } from '../../src/distributed/thread-communicator.js';
import type { Communicator } from '../../src/distributed/communicator.js';
import { runThreadRanks } from '../helpers/thread-ranks.js';
import { largestDifference } from '../helpers/weights.js';
import type { RankJob, RankOutcome } from './rank-worker.js';
import { tinyMultistageModel } from '../helpers/tiny-model.js';

T.setBackend(cpuBackend());

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'stagediff-ranks-'));
}

/**
 * A tiny multistage run; `training` fields override. Dropout on: the ranks' masks must be the one process's
 * too. Gradient buckets of 4 KiB: 51 sums a step, all started during its last backward pass (49 of them
 * while some gradients are still missing, the last two with the pass's last gradient).
 */
function tinyConfig(runDir: string, training: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    runDir,
    device: 'cpu',
    data: { source: 'shapes', resolution: 8, count: 64 },
    model: tinyMultistageModel(),
    training: { totalImages: 48, batchSize: 8, microBatch: 4, lr: 2e-3, lrRampUpImages: 16, stageSampling: 'edm-marginal', gradientBucketMiB: 1 / 256, ema: { halfLifeImages: 16 }, ...training },
    output: { logEveryImages: 16, checkpointEveryImages: 24, snapshotEveryImages: 100000, keepCheckpoints: 10, grid: { count: 1, steps: 2 } },
  };
}

function withDropout(config: Record<string, unknown>, dropout: number): Record<string, unknown> {
  const model = config.model as { network: Record<string, unknown> };
  return { ...config, model: { ...model, network: { ...model.network, dropout } } };
}

/** Runs every rank of a thread group in its own worker; resolves with each rank's outcome. */
function runGroup(size: number, job: Omit<RankJob, 'group' | 'rank'>, perRank: (rank: number) => Partial<RankJob> = () => ({})): Promise<RankOutcome[]> {
  return runThreadRanks<RankJob, RankOutcome>(new URL('./rank-worker.js', import.meta.url), size, (group, rank) => ({ ...job, group, rank, ...perRank(rank) }));
}

/** Trains on its own; returns the weights before and after. */
async function singleProcess(config: Record<string, unknown>, options: { resume?: boolean; stopAtImages?: number } = {}): Promise<{ before: Record<string, Float32Array>; after: Record<string, Float32Array> }> {
  const trainer = await Trainer.create(config, { resume: options.resume });
  const weights = () => Object.fromEntries([...trainer.model.net.stateDict()].map(([k, t]) => [k, t.toFloat32Array()]));
  const before = weights();
  await trainer.run({ stopAtImages: options.stopAtImages });
  return { before, after: weights() };
}

function weightsOf(outcome: RankOutcome): Record<string, Float32Array> {
  if (!outcome.ok) assert.fail(`a rank failed: ${outcome.message}`);
  return outcome.weights;
}

test('one rank through the thread group trains exactly what a run on its own trains', async () => {
  const alone = await singleProcess(tinyConfig(tempDir()));
  const [rank0] = await runGroup(1, { config: tinyConfig(tempDir()) });
  assert.deepEqual(largestDifference(alone.before, alone.after, weightsOf(rank0)), { worst: 0, unequal: 0 });
});

/**
 * Adam with a large epsilon: its update is then nearly linear in the gradient, so the weights show any
 * difference of the gradients instead of Adam's sign-like first steps hiding it.
 */
const LINEAR_ADAM = { totalImages: 48, adam: { eps: 1 } };

for (const [what, training, dropout] of [
  ['one stage per micro-batch (edm-marginal), dropout on', { stageSampling: 'edm-marginal' }, 0.1],
  ['stages mixed in each micro-batch (balanced), no dropout', { stageSampling: 'balanced' }, 0],
] as const) {
  test(`${what}: 2 and 4 ranks with batch 8 give the weights of one process with batch 8, up to the rounding of the sums`, async () => {
    const config = (dir: string) => withDropout(tinyConfig(dir, { ...LINEAR_ADAM, ...training }), dropout);
    const alone = await singleProcess(config(tempDir()));
    for (const size of [2, 4]) {
      const outcomes = await runGroup(size, { config: config(tempDir()) });
      const first = weightsOf(outcomes[0]);
      // Every rank holds the same weights after every step: they all apply the same summed gradient.
      for (const other of outcomes.slice(1)) assert.deepEqual(largestDifference(alone.before, first, weightsOf(other)), { worst: 0, unequal: 0 });
      const { worst } = largestDifference(alone.before, alone.after, first);
      console.log(`${what}, ${size} ranks: largest difference ${worst.toExponential(2)} of the largest change`);
      // Measured (differences of more than 2 units in the last place): 7.2e-7 (2 ranks) and 1.1e-6 (4 ranks) with edm-marginal, 2.5e-7 and 3.3e-7 mixed; a wrong share of the noise gives Infinity.
      assert.ok(worst < 1e-4, `${size} ranks: weights differ from one process's by ${worst} of the largest change`);
    }
  });
}

test('the trainer starts the gradient sums during the backward pass, while gradients are still missing', async () => {
  // One rank in this thread (a group of one never waits). At each start, count the parameters backward
  // has not given a gradient yet (after backward there are none: finish() gives zeros to the rest), and
  // whether backward is running (it runs with the tape off, the step around it with the tape on).
  let params: T.Tensor[] = [];
  const missingAtStart: number[] = [];
  let startedOutsideBackward = 0;
  const inner = new ThreadCommunicator(threadGroup(1), 0);
  const communicator: Communicator = {
    rank: 0,
    size: 1,
    description: inner.description,
    startAllReduceSum: (tensors) => {
      missingAtStart.push(params.filter((p) => p.grad === null).length);
      if (isGradEnabled()) startedOutsideBackward++;
      return inner.startAllReduceSum(tensors);
    },
    allReduceHostSum: (values) => inner.allReduceHostSum(values),
    abort: (reason) => inner.abort(reason),
    close: () => inner.close(),
  };
  // One backward pass a step, every decoder reached (balanced): no gradient exists before the pass.
  const trainer = await Trainer.create(tinyConfig(tempDir(), { microBatch: null, stageSampling: 'balanced' }), { communicator });
  params = trainer.model.net.parameters();
  await trainer.run();
  const steps = 48 / 8;
  assert.equal(missingAtStart.length, steps * 51);
  assert.equal(startedOutsideBackward, 0, 'every sum starts during the backward pass');
  // Measured: in every step, 49 of the 51 buckets start while gradients are still missing (314 of the
  // 334 parameters at the first start); the last two start together, with the pass's last gradient.
  // Started after backward, every count would be 0.
  assert.equal(missingAtStart.filter((n) => n > 0).length, steps * 49);
});

test('rank 0 alone writes the run, its log holds the whole batch, and a run saved by 2 ranks resumes on 1 and on 3', async () => {
  // Batch 6: a whole share for 1, 2 and 3 ranks.
  const config = (dir: string) => tinyConfig(dir, { ...LINEAR_ADAM, batchSize: 6, microBatch: null });
  // One process throughout, stopped at the same place and resumed, for a log of the same lines.
  const aloneDir = tempDir();
  const { before } = await singleProcess(config(aloneDir), { stopAtImages: 24 });
  const alone = { before, after: (await singleProcess(config(aloneDir), { resume: true })).after };
  const log = (d: string) => readFileSync(join(d, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { images: number; loss: number; samplesPerStage: number[] });
  const theirs = log(aloneDir);
  // 2 ranks to the checkpoint at 24 images.
  const saved = tempDir();
  for (const outcome of await runGroup(2, { config: config(saved), stopAtImages: 24 })) weightsOf(outcome);
  assert.deepEqual(listCheckpoints(saved).map((p) => basename(p)), listCheckpoints(aloneDir).map((p) => basename(p)).slice(0, 1));
  for (const ranks of [1, 3]) {
    const dir = tempDir();
    cpSync(saved, dir, { recursive: true });
    // On 1: a process without a group, as `train` without --gpus.
    const weights = ranks === 1 ? (await singleProcess(config(dir), { resume: true })).after : weightsOf((await runGroup(ranks, { config: config(dir), resume: true }))[0]);
    const { worst } = largestDifference(alone.before, alone.after, weights);
    console.log(`2 ranks, then ${ranks}: largest difference ${worst.toExponential(2)} of the largest change`);
    assert.ok(worst < 1e-4, `2 then ${ranks} ranks: weights differ from one process's by ${worst} of the largest change`);
    const mine = log(dir);
    assert.deepEqual(mine.map((e) => [e.images, e.samplesPerStage]), theirs.map((e) => [e.images, e.samplesPerStage]));
    mine.forEach((e, i) => assert.ok(Math.abs(e.loss - theirs[i].loss) < 1e-5 * theirs[i].loss, `${ranks} ranks, log line ${i}: loss ${e.loss} vs ${theirs[i].loss}`));
  }
});

test('a rank that fails stops the others with its message', async () => {
  const outcomes = await runGroup(3, { config: tinyConfig(tempDir(), { batchSize: 6, microBatch: null }) }, (rank) => (rank === 1 ? { failAtReduce: 2 } : {}));
  assert.deepEqual(outcomes.map((o) => o.ok), [false, false, false]);
  const messages = outcomes.map((o) => (o.ok ? '' : o.message));
  assert.match(messages[1], /simulated failure at all-reduce 2/);
  for (const rank of [0, 2]) assert.match(messages[rank], new RegExp(`rank ${rank} stopped: rank 1: simulated failure at all-reduce 2`));
});

test('a rank that cannot start stops the others before the first step', async () => {
  const outcomes = await runGroup(2, { config: tinyConfig(tempDir()) }, (rank) => (rank === 1 ? { config: tinyConfig(tempDir(), { batchSize: 6 }) } : {}));
  const messages = outcomes.map((o) => (o.ok ? '' : o.message));
  assert.match(messages[1], /training.microBatch \(4\) must be a multiple of the number of ranks|batchSize/);
  assert.match(messages[0], /rank 0 stopped: rank 1: /);
});

test('stages mixed with dropout: each rank draws its masks from its own stream, and the ranks stay in step', async () => {
  const outcomes = await runGroup(2, { config: tinyConfig(tempDir(), { stageSampling: 'per-sample' }) });
  const first = weightsOf(outcomes[0]);
  const start = Object.fromEntries(Object.entries(first).map(([k, v]) => [k, new Float32Array(v.length)]));
  assert.deepEqual(largestDifference(start, first, weightsOf(outcomes[1])), { worst: 0, unequal: 0 });
  assert.ok(Object.values(first).every((w) => w.every(Number.isFinite)));
});

test("the LDM code's rank rule: rank r trains stage r mod 3 only, and the log counts every stage", async () => {
  const dir = tempDir();
  const outcomes = await runGroup(3, { config: tinyConfig(dir, { batchSize: 6, microBatch: null, totalImages: 12, stageSampling: 'rank' }) });
  for (const o of outcomes) weightsOf(o);
  const lines = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { samplesPerStage: number[] });
  assert.deepEqual(lines.at(-1)!.samplesPerStage, [4, 4, 4]);
  await assert.rejects(singleProcess(tinyConfig(tempDir(), { stageSampling: 'rank' })), /stage sampling 'rank' gives each rank of a training group one stage/);
});
