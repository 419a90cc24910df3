/**
 * Cost per stage on a tiny multistage network: multiply-accumulates checked against a count made another
 * way (from the weights' names and shapes: every convolution weight once per output pixel of the resolution
 * its block is named for, every linear weight once, and (HW)^2 C twice per attention), parameters against
 * the state dict, evaluations per stage against the sampler's noise levels, and the paper's 18 / 4 / 13 split
 * of EDM's 35 evaluations.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { Conv2d } from '../../src/nn/conv2d.js';
import { StagePartition } from '../../src/stages/stage-partition.js';
import { edmSigmaSteps } from '../../src/diffusion/samplers/time-steps.js';
import { costPerStage, countMacs, evaluationsPerStage, formatCostTable } from '../../src/eval/cost.js';
import { TINY_PARTITION, tinyMultistage } from './tiny-model.js';

T.setBackend(cpuBackend());
const { net } = tinyMultistage();

/** MACs of one evaluation in `stage`, from the parameter names and shapes alone. */
function macsFromNames(stage: number): number {
  let macs = 0;
  for (const [name, p] of net.namedParameters()) {
    const decoder = /\.decs\.(\d+)\./.exec(name);
    if ((decoder && Number(decoder[1]) !== stage) || !name.endsWith('.weight')) continue;
    const numel = p.shape.reduce((a, b) => a * b, 1);
    if (p.shape.length === 2) macs += numel;
    if (p.shape.length === 4) {
      const r = Number(/\.(\d+)x\d+_/.exec(name)![1]);
      macs += numel * r * r;
      if (name.endsWith('.qkv.weight')) macs += 2 * r ** 4 * p.shape[1];
    }
  }
  return macs;
}

test('MACs per evaluation of each stage equal the count from the weights, and parameters the state dict', () => {
  const table = costPerStage({ net, denoiser: (x, s) => net.forward(x, s), partition: TINY_PARTITION, shape: [3, 8, 8], batch: 3, repeats: 1 });
  const macs = table.stages.map((s) => s.macs);
  assert.deepEqual(macs, [0, 1, 2].map(macsFromNames));
  assert.ok(macs[0] > macs[1] && macs[1] > macs[2], `decoders 12 / 8 / 4 wide: ${macs}`);
  const count = (filter: (name: string) => boolean) => net.namedParameters().filter(([n]) => filter(n)).reduce((a, [, p]) => a + p.size, 0);
  assert.equal(table.totalParameters, net.numParameters());
  assert.equal(table.sharedParameters, count((n) => !n.includes('.decs.')));
  table.stages.forEach((s, k) => {
    assert.equal(s.ownParameters, count((n) => n.includes(`.decs.${k}.`)));
    assert.equal(s.pathParameters, table.sharedParameters + s.ownParameters);
  });
  // Heun 18 steps on (0, 1], (1, 5], (5, inf)
  assert.deepEqual(table.stages.map((s) => s.evaluations), heunEvaluations(TINY_PARTITION));
  assert.equal(table.perImage.macs, table.stages.reduce((a, s) => a + s.evaluations * s.macs, 0));
  for (const s of table.stages) assert.ok(s.msPerEvaluation! > 0 && Number.isFinite(s.msPerEvaluation!));
  assert.ok(Math.abs(table.perImage.ms! - table.stages.reduce((a, s) => a + (s.evaluations * s.msPerEvaluation!) / 3, 0)) < 1e-9);
  const printed = formatCostTable(table);
  assert.match(printed, /heun, 18 steps, 35 evaluations per image/);
  assert.match(printed, new RegExp(`\\| one image \\| \\| \\| ${(table.perImage.macs / 1e9).toFixed(2)}G \\| [0-9.]+ ms \\| 35 \\|`));
  // The layers are unwatched afterwards.
  for (const [, m] of net.namedModules()) assert.ok(!Object.hasOwn(m, 'forward'));
});

/** EDM's Heun: one evaluation at each level but the last, a second at the next level unless it is 0. */
function heunEvaluations(partition: StagePartition): number[] {
  const counts = new Array<number>(partition.numStages).fill(0);
  const sigmas = edmSigmaSteps(18, 0.002, 80, 7);
  for (let i = 0; i < 18; i++) {
    counts[partition.stageOf(Math.fround(sigmas[i]))]++;
    if (sigmas[i + 1] > 0) counts[partition.stageOf(Math.fround(sigmas[i + 1]))]++;
  }
  return counts;
}

test("the paper's CIFAR-10 stages split EDM Heun's 35 evaluations 18 / 4 / 13", () => {
  assert.deepEqual(evaluationsPerStage(new StagePartition([2.5103, 7.6577]), 'heun', 18), [18, 4, 13]);
  assert.deepEqual(evaluationsPerStage(StagePartition.single(), { name: 'dpm-solver', order: 3 }, 20), [20]);
});

test('a convolution fused with its downsampling runs at the padded input size', () => {
  const conv = new Conv2d(4, 6, 3, { down: true, fusedResample: true, resampleFilter: [1, 3, 3, 1] }, new T.Generator(0));
  const x = T.zeros([2, 4, 8, 8]);
  let shape: readonly number[] = [];
  const macs = countMacs(conv, () => void (shape = conv.forward(x).shape));
  assert.deepEqual(shape, [2, 6, 4, 4]);
  // pad = 1 (kernel) + 1 (filter): the convolution's output is 10 x 10 before the 2x downsampling.
  assert.equal(macs, 2 * 6 * 4 * 9 * 10 * 10);
  const plain = new Conv2d(4, 6, 3, { down: true }, new T.Generator(0));
  assert.equal(countMacs(plain, () => void plain.forward(x)), 2 * 6 * 4 * 9 * 4 * 4);
});
