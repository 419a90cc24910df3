/**
 * pytorch-fid's FID Inception-v3 against the fixture made with pytorch-fid's own network in float64
 * (test/fixtures/fid/README.md; another fixture of the same format through STAGEDIFF_FID_FIXTURE_DIR):
 * the 2048-d features to relative L2 < 3e-4, on the CPU and, where there is one, on the GPU in fp32.
 * A missing fixture fails. Also: the weight file's errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../../src/tensor/index.js';
import type { Backend } from '../../src/backend/backend.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { cudaBackend, probeCuda } from '../../src/backend/cuda/index.js';
import type { HostTensor } from '../../src/nn/safetensors.js';
import { writeSafetensors } from '../../src/nn/safetensors.js';
import { FidInceptionV3, inceptionWeightsPath, loadFidInception, loadInceptionState } from '../../src/eval/inception.js';
import { relError } from '../helpers/gradcheck.js';
import { fidFixtureDir, readInceptionFixture } from './fid-fixture.js';

const fixture = readInceptionFixture();

function featuresOn(backend: Backend): Float32Array {
  T.setBackend(backend);
  const net = new FidInceptionV3();
  try {
    loadInceptionState(net, fixture.state, fidFixtureDir());
    return T.tidy(() => {
      const f = net.features(T.fromArray(fixture.x.data, fixture.x.shape));
      assert.deepEqual(f.shape, [fixture.x.shape[0], 2048]);
      return f.toFloat32Array();
    });
  } finally {
    net.dispose();
    T.setBackend(cpuBackend());
  }
}

test(`FID Inception-v3 on the CPU matches pytorch-fid's float64 features (${fidFixtureDir()})`, () => {
  const err = relError(featuresOn(cpuBackend()), fixture.features);
  console.log(`  CPU: relative L2 ${err.toExponential(2)} over [${fixture.x.shape}] inputs`);
  assert.ok(err < 3e-4, `relative L2 error ${err} of the CPU features exceeds 3e-4`);
});

const probe = probeCuda();
test('FID Inception-v3 on the GPU in fp32 matches pytorch-fid\'s float64 features', { skip: probe.available ? false : `no usable CUDA GPU: ${probe.missing.join('; ')}` }, () => {
  const err = relError(featuresOn(cudaBackend({ math: 'fp32' })), fixture.features);
  console.log(`  GPU (${probe.device}, fp32): relative L2 ${err.toExponential(2)} over [${fixture.x.shape}] inputs`);
  assert.ok(err < 3e-4, `relative L2 error ${err} of the GPU features exceeds 3e-4`);
});

test('the weights file: a wrong name or shape is named; no file says how to get one', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagediff-inception-'));
  const saved = process.env.STAGEDIFF_INCEPTION;
  try {
    const write = (name: string, state: Map<string, HostTensor>): string => {
      const path = join(dir, name);
      writeSafetensors(path, state);
      return path;
    };
    const renamed = new Map(fixture.state);
    renamed.set('Mixed_5b.branch1x1.conv.weights', renamed.get('Mixed_5b.branch1x1.conv.weight')!);
    renamed.delete('Mixed_5b.branch1x1.conv.weight');
    assert.throws(() => loadFidInception(write('renamed.safetensors', renamed)), /no tensor Mixed_5b\.branch1x1\.conv\.weight \[64, 192, 1, 1\]/);
    const extra = new Map(fixture.state);
    extra.set('fc.bias', { dtype: 'float32', shape: [1008], data: new Float32Array(1008) });
    assert.throws(() => loadFidInception(write('extra.safetensors', extra)), /unexpected tensor fc\.bias \[1008\]/);
    const reshaped = new Map(fixture.state);
    const bias = reshaped.get('Mixed_6b.branch7x7_2.conv.weight')!;
    reshaped.set('Mixed_6b.branch7x7_2.conv.weight', { ...bias, shape: [128, 128, 7, 1] });
    assert.throws(() => loadFidInception(write('reshaped.safetensors', reshaped)), /Mixed_6b\.branch7x7_2\.conv\.weight has shape \[128, 128, 7, 1\], expected \[128, 128, 1, 7\]/);

    delete process.env.STAGEDIFF_INCEPTION;
    assert.throws(() => inceptionWeightsPath(), (e: Error) => /pt_inception-2015-12-05-6726825d\.pth/.test(e.message) && /docs\/evaluation\.md/.test(e.message) && /STAGEDIFF_INCEPTION/.test(e.message));
    assert.throws(() => inceptionWeightsPath(join(dir, 'absent.safetensors')), /absent\.safetensors \(from --inception\) does not exist/);
    process.env.STAGEDIFF_INCEPTION = join(dir, 'renamed.safetensors');
    assert.equal(inceptionWeightsPath(), join(dir, 'renamed.safetensors'));
    assert.equal(inceptionWeightsPath(join(dir, 'extra.safetensors')), join(dir, 'extra.safetensors'));
  } finally {
    if (saved === undefined) delete process.env.STAGEDIFF_INCEPTION;
    else process.env.STAGEDIFF_INCEPTION = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});
