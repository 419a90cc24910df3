import { test } from 'node:test';
import assert from 'node:assert/strict';
import { algorithm1Boundaries, curvesFromSamples } from '../../src/stages/index.js';

// Six samples, given out of time order.
const curves = curvesFromSamples([
  { t: 0.4, s0: 0.4, s1: 0.6 },
  { t: 0.1, s0: 1, s1: 0 },
  { t: 0.6, s0: 0, s1: 1 },
  { t: 0.3, s0: 0.7, s1: 0.2 },
  { t: 0.2, s0: 1, s1: 0 },
  { t: 0.5, s0: 0.2, s1: 1 },
]);

test('the curves are sorted by time with running means from each end', () => {
  assert.deepEqual(curves.t, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
  const close = (a: number[], b: number[]): void => a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-12, `${a} vs ${b}`));
  close(curves.s0Below, [1, 1, 0.9, 0.775, 0.66, 0.55]);
  close(curves.s1Above, [2.8 / 6, 2.8 / 5, 2.8 / 4, 2.6 / 3, 1, 1]);
});

test('t1 is the last time whose samples up to it reach alpha; t2 the first whose samples from it do', () => {
  assert.deepEqual(algorithm1Boundaries(curves, 0.8), { t1: 0.3, t2: 0.4 });
  assert.deepEqual(algorithm1Boundaries(curves, 1), { t1: 0.2, t2: 0.5 });
  // At a low alpha the two overlap: that is for the caller to reject (clusterStages does).
  assert.deepEqual(algorithm1Boundaries(curves, 0.5), { t1: 0.6, t2: 0.2 });
  const hopeless = curvesFromSamples([{ t: 0.5, s0: 0.3, s1: 0.3 }]);
  assert.deepEqual(algorithm1Boundaries(hopeless, 0.9), { t1: null, t2: null });
});

test('alpha outside (0, 1] is an error', () => {
  for (const alpha of [0, -0.1, 1.01, NaN]) assert.throws(() => algorithm1Boundaries(curves, alpha), /alpha is an agreement level in \(0, 1\]/);
});
