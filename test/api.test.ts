import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as sd from '../src/index.js';

test('the library API builds, routes and samples a multistage network as the README shows', () => {
  sd.setBackend(sd.cpuBackend());
  const net = sd.networkFromConfig(
    {
      network: { model_type: 'MultistageUNet', img_resolution: 8, img_channels: 3, channel_mult: [1, 2], num_blocks: 1, attn_resolutions: [], en_model_channels: 8, de_model_channels: [8, 8, 4], dropout: 0 },
      stage_sigma_boundaries: [2.5103, 7.6577],
    },
    new sd.Generator(0),
  );
  net.train(false);
  const { images, evaluations, evaluationsPerStage } = sd.sample({ model: (x, s) => net.forward(x, s), shape: [3, 8, 8], batch: 2, seed: 0, partition: new sd.StagePartition([2.5103, 7.6577]) });
  assert.deepEqual(images.shape, [2, 3, 8, 8]);
  assert.equal(evaluations, 35);
  assert.deepEqual(evaluationsPerStage, [18, 4, 13]);
  assert.ok(images.toFloat32Array().every(Number.isFinite));
});

test('the library API draws images at scale from per-image seeds and tables their cost per stage', async () => {
  sd.setBackend(sd.cpuBackend());
  const net = sd.networkFromConfig(
    { network: { model_type: 'SongUNet', img_resolution: 8, img_channels: 3, channel_mult: [1], num_blocks: 1, attn_resolutions: [], model_channels: 8, dropout: 0 } },
    new sd.Generator(0),
  );
  net.train(false);
  const firsts: number[] = [];
  const summary = await sd.generateImages({ model: (x, s) => net.forward(x, s), shape: [3, 8, 8], steps: 2, count: 5, batch: 2, sink: (b) => void firsts.push(b.first) });
  assert.deepEqual(firsts, [0, 2, 4]);
  assert.equal(summary.evaluationsPerImage, 3);
  const table = sd.costPerStage({ net, denoiser: (x, s) => net.forward(x, s), partition: sd.StagePartition.single(), shape: [3, 8, 8], steps: 2, batch: 0 });
  assert.equal(table.perImage.evaluations, 3);
  assert.equal(table.totalParameters, net.numParameters());
});
