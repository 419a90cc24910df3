import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Generator } from '../../src/tensor/index.js';
import { StagePartition } from '../../src/stages/stage-partition.js';
import { STAGE_SAMPLING_KINDS, StageSampler } from '../../src/train/stage-sampling.js';
import { logNormalSigma, uniformTime } from '../../src/diffusion/noise-distribution.js';
import { DiscreteVPSchedule, LinearVPSchedule } from '../../src/diffusion/index.js';
import { resolveTrainConfig } from '../../src/train/config.js';
import { partitionFromConfig } from '../../src/train/diffusion-model.js';
import { normalCdf, normalQuantile } from '../../src/util/normal.js';

const paper = new StagePartition([2.5103, 7.6577]);
const edm = logNormalSigma(-1.2, 1.2);

function source(seed: number): (n: number) => Float64Array {
  const g = new Generator(seed);
  return (n) => g.uniformHost(n);
}

test('normal CDF and quantile match reference values and invert each other', () => {
  assert.ok(Math.abs(normalCdf(1) - 0.8413447460685429) < 2e-7);
  assert.ok(Math.abs(normalCdf(-3) - 0.0013498980316301) < 1e-9);
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959963984540054) < 1e-12);
  assert.ok(Math.abs(normalQuantile(1e-10) + 6.361340902404056) < 1e-9);
  for (const x of [-5, -2, -0.3, 0, 0.7, 2.5, 4]) assert.ok(Math.abs(normalQuantile(normalCdf(x)) - x) < 1e-5 * Math.max(1, Math.abs(x)));
});

test("stage masses under EDM's log-normal are the paper's 96.14% / 3.51% / 0.35%", () => {
  const m = new StageSampler('edm-marginal', paper, edm).stageMasses();
  assert.deepEqual(m.map((x) => Math.round(x * 10000) / 100), [96.14, 3.51, 0.35]);
});

test('edm-marginal: single-stage micro-batches whose marginal is the log-normal', () => {
  const sampler = new StageSampler('edm-marginal', paper, edm);
  const u = source(1);
  const all: number[] = [];
  const stageCounts = [0, 0, 0];
  const batches = 4000;
  for (let b = 0; b < batches; b++) {
    const batch = sampler.draw(8, u);
    assert.ok(batch.stage >= 0);
    stageCounts[batch.stage]++;
    for (const s of batch.sigma) {
      assert.equal(paper.stageOf(s), batch.stage, 'sigma outside its micro-batch stage');
      all.push(s);
    }
  }
  // Kolmogorov-Smirnov distance of ln sigma against N(-1.2, 1.2^2); batches are correlated within a
  // stage, so compare to the critical value for the number of batches, not samples.
  all.sort((a, b) => a - b);
  let d = 0;
  all.forEach((s, i) => {
    d = Math.max(d, Math.abs(edm.cdf(s) - (i + 0.5) / all.length));
  });
  assert.ok(d < 1.63 / Math.sqrt(batches), `KS distance ${d}`);
  const expected = sampler.stageMasses();
  stageCounts.forEach((c, s) => {
    const p = expected[s];
    const se = Math.sqrt((p * (1 - p)) / batches);
    assert.ok(Math.abs(c / batches - p) < 5 * se + 1e-9, `stage ${s}: ${c / batches} vs ${p}`);
  });
});

test('balanced: equal shares per batch, importance weights keep the objective unbiased', () => {
  const sampler = new StageSampler('balanced', paper, edm);
  assert.deepEqual(sampler.balancedCounts(10), [4, 3, 3]);
  const u = source(2);
  // E_lognormal[f(sigma)] for f = ln(sigma)^2 is pMean^2 + pStd^2 = 2.88.
  let acc = 0;
  let n = 0;
  for (let b = 0; b < 3000; b++) {
    const batch = sampler.draw(12, u);
    assert.equal(batch.stage, -1);
    for (let i = 0; i < 12; i++) {
      acc += batch.weight[i] * Math.log(batch.sigma[i]) ** 2;
      n++;
    }
  }
  assert.ok(Math.abs(acc / n - 2.88) < 0.05, `weighted mean ${acc / n}`);
});

test('uniform: each stage a third of the batches; VP t uniform inside its stage', () => {
  // a VP-like monotone map from t to sigma, with its inverse
  const sigmaOfT = (t: number) => Math.exp(4 * t) - 1 + 1e-3;
  const tOfSigma = (s: number) => Math.log(s + 1 - 1e-3) / 4;
  const dist = uniformTime(1e-3, sigmaOfT, tOfSigma);
  const sampler = new StageSampler('uniform', paper, dist);
  const u = source(3);
  const counts = [0, 0, 0];
  const ts: number[][] = [[], [], []];
  for (let b = 0; b < 3000; b++) {
    const batch = sampler.draw(4, u);
    counts[batch.stage]++;
    for (const s of batch.sigma) ts[batch.stage].push(tOfSigma(s));
  }
  for (const c of counts) assert.ok(Math.abs(c / 3000 - 1 / 3) < 5 * Math.sqrt(2 / 9 / 3000));
  // inside stage 1, t is uniform between the boundary times: its mean is their midpoint
  const [lo, hi] = [tOfSigma(2.5103), tOfSigma(7.6577)];
  const mean = ts[1].reduce((a, b) => a + b, 0) / ts[1].length;
  assert.ok(Math.abs(mean - (lo + hi) / 2) < (5 * (hi - lo)) / Math.sqrt(12 * ts[1].length), `mean t ${mean}`);
});

test('bad stage sampling settings fail with the setting named', () => {
  assert.throws(() => new StageSampler('bogus' as never, paper, edm), /unknown stage sampling "bogus"/);
  assert.throws(() => new StageSampler('balanced', paper, edm, [1, 1]), /3 positive numbers/);
  assert.throws(() => new StageSampler('per-sample', paper, edm).draw(0, source(1)), /positive integer/);
});

test('VP distributions: every stage sampling kind with boundaries in sigma, VP t and DDPM steps, and a unified model', () => {
  const linear = new LinearVPSchedule();
  const discrete = DiscreteVPSchedule.linear();
  const distributions = [
    { d: linear.trainingDistribution(), lo: linear.sigma(1e-5), hi: linear.sigma(1) },
    { d: discrete.trainingDistribution(), lo: discrete.sigmaAtStep(0), hi: discrete.sigmaAtStep(999) },
  ];
  const partitions = [
    { stageBoundaries: [2.5103, 7.6577], stageUnits: 'sigma' },
    { stageBoundaries: [0.442, 0.6308], stageUnits: 'vp-t' },
    { stageBoundaries: [300, 600], stageUnits: 'step' },
    { kind: 'unified' },
  ].map((model) => {
    const c = resolveTrainConfig({ model, formulation: { kind: 'vp' } });
    return partitionFromConfig(c.model, c.formulation);
  });
  const u = source(4);
  for (const { d, lo, hi } of distributions) {
    for (const partition of partitions) {
      for (const kind of STAGE_SAMPLING_KINDS) {
        const what = `${kind} under ${d.name}, stages at sigma [${partition.boundaries.join(', ')}]`;
        const sampler = new StageSampler(kind, partition, d);
        const masses = sampler.stageMasses();
        assert.ok(masses.every((m) => m > 0 && m <= 1), `${what}: masses ${masses}`);
        assert.ok(Math.abs(masses.reduce((a, b) => a + b, 0) - 1) < 1e-12, `${what}: masses ${masses}`);
        for (let b = 0; b < 50; b++) {
          const batch = sampler.draw(6, u);
          for (let i = 0; i < 6; i++) {
            const s = batch.sigma[i];
            assert.ok(s >= lo * (1 - 1e-12) && s <= hi * (1 + 1e-12), `${what}: sigma ${s} outside [${lo}, ${hi}]`);
            assert.ok(Number.isFinite(batch.weight[i]) && batch.weight[i] > 0, `${what}: weight ${batch.weight[i]}`);
            if (batch.stage >= 0) assert.equal(partition.stageOf(s), batch.stage, `${what}: sigma ${s} outside stage ${batch.stage}`);
          }
        }
      }
    }
  }
});

test('balanced-batch: one stage per micro-batch with the set shares, importance weights keep the objective unbiased', () => {
  const shares = [0.5, 0.3, 0.2];
  const sampler = new StageSampler('balanced-batch', paper, edm, [5, 3, 2]);
  const masses = sampler.stageMasses();
  const u = source(5);
  const batches = 6000;
  const counts = [0, 0, 0];
  // E_lognormal[f(sigma)] for f = ln(sigma)^2 is pMean^2 + pStd^2 = 2.88; for f = 1 it is 1.
  let acc = 0;
  let mass = 0;
  for (let b = 0; b < batches; b++) {
    const batch = sampler.draw(8, u);
    assert.ok(batch.stage >= 0, 'a balanced-batch micro-batch mixes stages');
    counts[batch.stage]++;
    for (let i = 0; i < 8; i++) {
      assert.equal(paper.stageOf(batch.sigma[i]), batch.stage, 'sigma outside its micro-batch stage');
      assert.ok(Math.abs(batch.weight[i] - masses[batch.stage] / shares[batch.stage]) < 1e-15);
      acc += batch.weight[i] * Math.log(batch.sigma[i]) ** 2;
      mass += batch.weight[i];
    }
  }
  counts.forEach((c, s) => {
    const se = Math.sqrt((shares[s] * (1 - shares[s])) / batches);
    assert.ok(Math.abs(c / batches - shares[s]) < 5 * se, `stage ${s}: ${c / batches} of the batches vs share ${shares[s]}`);
  });
  const n = batches * 8;
  assert.ok(Math.abs(mass / n - 1) < 0.05, `mean weight ${mass / n}`);
  assert.ok(Math.abs(acc / n - 2.88) < 0.1, `weighted mean ${acc / n}`);
});
