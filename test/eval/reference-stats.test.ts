import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeNpz } from '../../src/data/npz.js';
import { featureStatistics } from '../../src/eval/frechet.js';
import { checkReferenceMatches, readReferenceStatistics, writeReferenceStatistics } from '../../src/eval/reference-stats.js';
import { tempDir } from '../data/temp-dir.js';

const dir = tempDir();
const stats = featureStatistics(Float64Array.from({ length: 5 * 3 }, (_, i) => Math.sin(i) * 1e3 + i / 7), 5, 3);
const FID = { metric: 'fid' as const, featureDim: 3, network: 'inception' };

test('reference statistics: mu and sigma come back exactly, with the network that made them', () => {
  const path = join(dir, 'ref.npz');
  writeReferenceStatistics(path, stats, FID);
  const back = readReferenceStatistics(path);
  assert.deepEqual(back.statistics.mu, stats.mu);
  assert.deepEqual(back.statistics.sigma, stats.sigma);
  assert.deepEqual([back.statistics.count, back.identity], [5, FID]);
  checkReferenceMatches(path, back, FID);
  assert.throws(() => checkReferenceMatches(path, back, { ...FID, metric: 'fd_featnet', network: 'featnet sha256:0' }), /holds FID features \(3-d, inception\), but this evaluation uses FD_featnet/);
});

test("reference statistics: pytorch-fid's and EDM's files (mu, sigma only; float32 too) are FID of any matching size", () => {
  const path = join(dir, 'published.npz');
  writeNpz(path, { mu: { dtype: '<f4', shape: [3], data: Float32Array.from(stats.mu) }, sigma: { dtype: '<f8', shape: [3, 3], data: stats.sigma } });
  const back = readReferenceStatistics(path);
  assert.equal(back.identity, null);
  assert.equal(back.statistics.mu[1], Math.fround(stats.mu[1]));
  checkReferenceMatches(path, back, FID);
  assert.throws(() => checkReferenceMatches(path, back, { ...FID, featureDim: 2048 }), /holds statistics of 3-d features, but FID features \(2048-d, inception\) are 2048-d/);
  const images = join(dir, 'images.npz');
  writeNpz(images, { arr_0: { dtype: '|u1', shape: [1, 1, 1, 3], data: new Uint8Array(3) } });
  assert.throws(() => readReferenceStatistics(images), /holds arr_0, not reference statistics \(mu and sigma\)/);
  const bad = join(dir, 'bad.npz');
  writeNpz(bad, { mu: { dtype: '<f8', shape: [3], data: stats.mu }, sigma: { dtype: '<f8', shape: [3, 2], data: new Float64Array(6) } });
  assert.throws(() => readReferenceStatistics(bad), /mu \[3\] and sigma \[3, 2\] are not \[d\] and \[d, d\]/);
});
