import { test } from 'node:test';
import assert from 'node:assert/strict';
import { equalLogSnrBoundaries, snrClustering, uniformTimeBoundaries, logSnrOf } from '../../src/stages/index.js';
import { vpLevel } from './vp.js';

test('uniform splits time into equal spans', () => {
  assert.deepEqual(uniformTimeBoundaries(4, 0, 1), [0.25, 0.5, 0.75]);
  assert.deepEqual(uniformTimeBoundaries(1, 0, 1), []);
});

test('the snr baseline reproduces the official split 0.348 / 0.709 on the VP schedule', () => {
  // The official snr_cluster.py: times (1..1000) / 1000, three stages, |log-SNR - median| cost.
  const snr = snrClustering(3, vpLevel, 1000, 0.001, 1);
  assert.deepEqual(snr.starts.map((s) => snr.t[s]).map((t) => Number(t.toFixed(3))), [0.348, 0.709]);
  assert.equal(snr.logSnr[0], logSnrOf(vpLevel(0.001)));
});

test('the snr baseline is exact: no other cut of a small grid has less total deviation', () => {
  const snr = snrClustering(3, vpLevel, 30, 0.01, 1);
  const cost = (cuts: number[]): number => {
    const bounds = [0, ...cuts, 30];
    let total = 0;
    for (let s = 0; s < 3; s++) {
      const seg = snr.logSnr.slice(bounds[s], bounds[s + 1]).sort((a, b) => a - b);
      const median = seg[Math.floor(seg.length / 2)];
      total += seg.reduce((acc, v) => acc + Math.abs(v - median), 0);
    }
    return total;
  };
  const found = cost(snr.starts);
  for (let i = 1; i < 29; i++) for (let j = i + 1; j < 30; j++) assert.ok(found <= cost([i, j]) + 1e-9, `cut ${i}, ${j} beats ${snr.starts}`);
});

test('a schedule whose log-SNR does not fall is rejected', () => {
  assert.throws(() => snrClustering(3, (t) => ({ t, scale: 1, std: 0.5 }), 10, 0.1, 1), /log-SNR must be finite and fall/);
});

test('snr-equal cuts the log-SNR range into equal spans (t1 falls early on the VP schedule)', () => {
  const times = equalLogSnrBoundaries(3, vpLevel, 0.001, 1);
  const hi = logSnrOf(vpLevel(0.001));
  const lo = logSnrOf(vpLevel(1));
  times.forEach((t, k) => assert.ok(Math.abs(logSnrOf(vpLevel(t)) - (hi - ((hi - lo) * (k + 1)) / 3)) < 1e-6, `boundary ${k} at t ${t}`));
  assert.ok(times[0] < 0.1 && times[1] > times[0] && times[1] < 1);
  assert.throws(() => equalLogSnrBoundaries(0, vpLevel, 0.001, 1), /positive integer/);
});
