/**
 * Every NAME.json + NAME.safetensors pair in the fixture folder: build the network from the JSON, load its
 * weights by name (strict), run the whole batch (mixed stages) in one call and match the official code's
 * D(x; sigma). Nothing here knows the fixtures' sizes or options: another folder of fixtures runs as is.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { type NetworkConfig, networkFromConfig } from '../../src/models/index.js';
import { type HostTensor, readSafetensors } from '../../src/nn/index.js';
import { relError } from '../helpers/gradcheck.js';
import { fixtureDir, fixtureNames } from './fixture-dir.js';

T.setBackend(cpuBackend());

const FIXTURE_PREFIX = 'fixture.';
const dir = fixtureDir();
const names = fixtureNames(dir, '.json').filter((name) => existsSync(join(dir, `${name}.safetensors`)));

test('the fixtures of both official networks are present (test/fixtures/edm, or STAGEDIFF_FIXTURE_DIR)', () => {
  assert.deepEqual(names, ['ddpmpp-tiny', 'multistage-tiny'], `fixture pairs NAME.json + NAME.safetensors in ${dir}`);
});

for (const [name, channelsLast] of names.flatMap((n) => [[n, false], [n, true]] as const)) {
  test(`${name}: D(x; sigma) of the whole batch matches the official code${channelsLast ? ' (channels-last execution)' : ''}`, () => {
    const config = JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as NetworkConfig;
    const { tensors } = readSafetensors(join(dir, `${name}.safetensors`));
    const weights = new Map<string, HostTensor>();
    const fixture = new Map<string, HostTensor>();
    for (const [key, value] of tensors) (key.startsWith(FIXTURE_PREFIX) ? fixture : weights).set(key, value);
    const input = (key: string): T.Tensor => {
      const h = fixture.get(FIXTURE_PREFIX + key);
      assert.ok(h, `${name}.safetensors has no ${FIXTURE_PREFIX}${key}`);
      return T.fromArray(h.data, h.shape, h.dtype);
    };

    const net = networkFromConfig(config, 'empty');
    net.loadStateDict(weights);
    net.eval().setChannelsLast(channelsLast);
    const expected = fixture.get(`${FIXTURE_PREFIX}D`)!;
    const d = T.noGrad(() =>
      T.tidy(() => {
        const augment = fixture.has(`${FIXTURE_PREFIX}augment_labels`) ? input('augment_labels') : null;
        const classLabels = fixture.has(`${FIXTURE_PREFIX}class_labels`) ? input('class_labels') : null;
        return net.forward(input('x'), input('sigma'), { augmentLabels: augment, classLabels }).toFloat32Array();
      }),
    );
    const err = relError(d, expected.data as Float32Array);
    console.log(`${name}${channelsLast ? ' channels last' : ''}: relative L2 error ${err.toExponential(3)} over ${expected.shape.join('x')}`);
    assert.ok(err < 1e-4, `${name}: relative L2 error ${err.toExponential(3)} exceeds 1e-4`);
    net.dispose();
  });
}
