/**
 * The paper's DPM-Solver arm end to end on the CPU: VP models of every kind train with stage boundaries in
 * sigma, VP t and DDPM steps under every stage sampling; a tiny VP multistage model trains, resumes bit for
 * bit, and samples with DPM-Solver-3, DPM-Solver++(2M) and DDIM, each evaluation in the stage its step
 * schedule puts it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Trainer } from '../../src/train/trainer.js';
import { STAGE_SAMPLING_KINDS } from '../../src/train/stage-sampling.js';
import { listCheckpoints } from '../../src/train/checkpoint.js';
import { loadModelFromCheckpoint } from '../../src/train/load-model.js';
import { readSafetensors } from '../../src/nn/safetensors.js';
import { sample } from '../../src/diffusion/sample.js';
import { LinearVPSchedule, onSchedule } from '../../src/diffusion/index.js';

T.setBackend(cpuBackend());

const WIDTHS = { unified: { model_channels: 8 }, multistage: { en_model_channels: 8, de_model_channels: [8, 8, 4] }, separate: { stage_model_channels: [8, 8, 4] } };
type Kind = keyof typeof WIDTHS;

function vpConfig(runDir: string, kind: Kind, model: Record<string, unknown>, training: Record<string, unknown>): Record<string, unknown> {
  return {
    runDir,
    device: 'cpu',
    data: { source: 'shapes', resolution: 8, count: 64 },
    model: { kind, network: { channel_mult: [1, 2], num_blocks: 1, attn_resolutions: [], dropout: 0.1, ...WIDTHS[kind] }, ...model },
    formulation: { kind: 'vp' },
    training: { lr: 4e-3, lrRampUpImages: 0, warmupSteps: 4, gradClip: 1, ema: { kind: 'constant', decay: 0.9 }, ...training },
    output: { logEveryImages: 32, checkpointEveryImages: 64, snapshotEveryImages: 100_000, keepCheckpoints: 10, grid: { count: 1, steps: 2 } },
  };
}

const tempDir = () => mkdtempSync(join(tmpdir(), 'stagediff-vp-'));

const UNITS = [
  { stageBoundaries: [2.5103, 7.6577], stageUnits: 'sigma' },
  { stageBoundaries: [0.442, 0.6308], stageUnits: 'vp-t' },
  { stageBoundaries: [300, 600], stageUnits: 'step' },
];

test('VP multistage, separate and unified models train two steps under every stage sampling, with boundaries in sigma, VP t and steps', async () => {
  const setups: [Kind, Record<string, unknown>][] = [...(['multistage', 'separate'] as const).flatMap((kind) => UNITS.map((units) => [kind, units] as [Kind, Record<string, unknown>])), ['unified', {}]];
  for (const [kind, units] of setups) {
    for (const stageSampling of STAGE_SAMPLING_KINDS) {
      const what = `${kind} ${JSON.stringify(units)} ${stageSampling}`;
      const trainer = await Trainer.create(vpConfig(tempDir(), kind, units, { totalImages: 8, batchSize: 4, stageSampling }));
      const result = await trainer.run();
      assert.equal(result.steps, 2, what);
      assert.ok(result.finalLossPerStage.some((l) => l !== null), what);
      for (const l of result.finalLossPerStage) assert.ok(l === null || (Number.isFinite(l) && l > 0), `${what}: loss ${l}`);
    }
  }
});

function tensorBytes(path: string): Map<string, Buffer> {
  return new Map([...readSafetensors(path).tensors].map(([k, t]) => [k, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)]));
}

type Line = { images: number; loss: number; lossPerStage: (number | null)[]; samplesPerStage: number[] };
const logOf = (dir: string): Line[] => readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);

test('a tiny VP multistage model trains, resumes bit for bit, and samples with DPM-Solver-3, DPM-Solver++(2M) and DDIM', async () => {
  const boundaries = [0.442, 0.6308];
  const config = (dir: string) => vpConfig(dir, 'multistage', { stageBoundaries: boundaries, stageUnits: 'vp-t' }, { totalImages: 384, batchSize: 8, stageSampling: 'uniform' });
  const straight = tempDir();
  await (await Trainer.create(config(straight))).run();

  const interrupted = tempDir();
  await (await Trainer.create(config(interrupted))).run({ stopAtImages: 192 });
  assert.deepEqual(listCheckpoints(interrupted).length, 3);
  const resumed = await Trainer.create(config(interrupted), { resume: true });
  assert.equal(resumed.imagesSeen, 192);
  await resumed.run();

  const final = (dir: string) => listCheckpoints(dir).at(-1)!;
  const [a, b] = [tensorBytes(final(straight)), tensorBytes(final(interrupted))];
  assert.deepEqual([...a.keys()], [...b.keys()]);
  assert.ok([...a.keys()].some((k) => k.startsWith('adam.')) && [...a.keys()].some((k) => k.startsWith('ema.')));
  for (const [k, v] of a) assert.ok(v.equals(b.get(k)!), `${k} differs between the uninterrupted and the resumed run`);
  const strip = (lines: Line[]) => lines.map(({ images, loss, lossPerStage, samplesPerStage }) => ({ images, loss, lossPerStage, samplesPerStage }));
  const log = logOf(straight);
  assert.deepEqual(strip(logOf(interrupted)), strip(log));
  // 'uniform' stage sampling: every stage trains; the epsilon loss starts near 1 (a fresh network predicts ~0) and falls.
  assert.ok([0, 1, 2].every((s) => log.some((l) => l.samplesPerStage[s] > 0)), 'a stage never trained');
  const mean = (xs: Line[]) => xs.reduce((s, l) => s + l.loss, 0) / xs.length;
  assert.ok(mean(log.slice(-3)) < 0.8 * mean(log.slice(0, 3)), `loss did not fall: ${log.map((l) => l.loss.toFixed(3)).join(' ')}`);

  // Sampling: where each sampler evaluates follows from its step schedule on the VP time grid
  // (t from 1 to 1e-3); a time t belongs to stage 0 if t <= 0.442, stage 1 if t <= 0.6308, else stage 2.
  const { model } = loadModelFromCheckpoint(straight);
  const vp = new LinearVPSchedule();
  assert.equal(model.vpSchedule?.sigma(1), vp.sigma(1));
  const stageOfTime = (t: number) => (t <= boundaries[0] ? 0 : t <= boundaries[1] ? 1 : 2);
  const perStage = (times: number[]) => times.reduce((counts, t) => (counts[stageOfTime(t)]++, counts), [0, 0, 0]);
  const steps = 20;
  // DPM-Solver++(2M) and DDIM: t uniform from 1 to 1e-3, one evaluation at each level but the last.
  const uniformTimes = Array.from({ length: steps }, (_, i) => 1 + ((1e-3 - 1) * i) / steps);
  // DPM-Solver-3 "fast" with 20 evaluations: orders 3,3,3,3,3,3,2 over 7 steps uniform in lambda = -ln(sigma);
  // a step of order k evaluates at its start and at k - 1 points that split it evenly in lambda.
  const orders = [3, 3, 3, 3, 3, 3, 2];
  const [lambdaStart, lambdaEnd] = [-Math.log(vp.sigma(1)), -Math.log(vp.sigma(1e-3))];
  const lambdaAt = (f: number) => lambdaStart + (lambdaEnd - lambdaStart) * f;
  const dpmTimes = orders.flatMap((k, i) => Array.from({ length: k }, (_, j) => vp.time(Math.exp(-lambdaAt((i + j / k) / orders.length)))));
  const expected = { 'dpm-solver': perStage(dpmTimes), 'dpm-solver++': perStage(uniformTimes), ddim: perStage(uniformTimes) };
  // by hand: t_i = 1 - 0.04995 i is above 0.6308 for i <= 7, above 0.442 for i <= 11
  assert.deepEqual(expected.ddim, [8, 4, 8]);
  for (const [sampler, counts] of Object.entries(expected)) {
    const result = sample({ model: model.denoiser(), shape: model.imageShape, batch: 2, seed: 3, steps, sampler: onSchedule({ name: sampler as keyof typeof expected }, model.vpSchedule), partition: model.partition });
    assert.equal(result.evaluations, steps, sampler);
    assert.deepEqual(result.evaluationsPerStage, counts, `${sampler}: evaluations per stage`);
    const pixels = result.images.toFloat32Array();
    assert.ok(pixels.every(Number.isFinite), `${sampler}: non-finite pixels`);
    result.images.dispose();
  }
  // The command line names DPM-Solver-3 as the paper does, and counts the same evaluations.
  const cli = spawnSync(process.execPath, [fileURLToPath(new URL('../../src/cli/main.js', import.meta.url)), 'sample', '--checkpoint', straight, '--sampler', 'dpm-solver', '--order', '3', '--steps', '20', '--count', '2', '--device', 'cpu', '--out', join(straight, 'dpm.png')], { encoding: 'utf8' });
  assert.equal(cli.status, 0, cli.stderr);
  assert.match(cli.stdout, new RegExp(`20 network evaluations \\(per stage ${expected['dpm-solver'].join(' / ')}\\)`));
});
