/**
 * The CIFAR-10 networks build with exactly the official state_dict: every name and shape in order, and
 * the parameter count, as listed in reference/edm/*.keys.tsv. Built with 'empty' weights: the same
 * construction as a trained model, without drawing 128M random numbers.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { NETWORK_PRESETS, networkFromConfig } from '../../src/models/index.js';
import { fixtureDir, fixtureNames } from './fixture-dir.js';

T.setBackend(cpuBackend());

const dir = fixtureDir();
const listings = fixtureNames(dir, '.keys.tsv').map((name) => `${name}.keys.tsv`);

test('the key listings of both official CIFAR-10 networks are present (test/fixtures/edm, or STAGEDIFF_FIXTURE_DIR)', () => {
  assert.deepEqual(listings, ['edm-ddpmpp-cifar10.keys.tsv', 'edm-multistage-cifar10.keys.tsv'], `key listings in ${dir}`);
});

for (const file of listings) {
  const name = file.replace(/\.keys\.tsv$/, '');
  test(`${name} builds with the official names, shapes and parameter count`, () => {
    const preset = NETWORK_PRESETS[name];
    assert.ok(preset, `no network preset named ${name}`);
    const lines = readFileSync(join(dir, file), 'utf8').trim().split('\n');
    const count = /^# parameters: (\d+)$/.exec(lines.pop()!);
    assert.ok(count, `${file} does not end with "# parameters: N"`);
    const expected = lines.map((l) => {
      const [key, shape] = l.split('\t');
      return `${key} ${shape.replaceAll(' ', '')}`;
    });
    const net = networkFromConfig(preset, 'empty');
    const actual = [...net.stateDict()].map(([key, v]) => `${key} ${JSON.stringify(v.shape)}`);
    assert.deepEqual(actual, expected);
    assert.equal(net.numParameters(), Number(count[1]));
    net.dispose();
  });
}
