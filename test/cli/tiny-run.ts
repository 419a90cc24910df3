import { Trainer } from '../../src/train/trainer.js';

/**
 * A run folder with one checkpoint of a tiny multistage model (8x8 shapes, 32 training images): enough for
 * the commands that read checkpoints (sample, eval) to be tested end to end in seconds on the CPU.
 */
export async function trainTinyRun(runDir: string): Promise<void> {
  const trainer = await Trainer.create({
    runDir,
    device: 'cpu',
    data: { source: 'shapes', resolution: 8, count: 64 },
    model: { kind: 'multistage', stageBoundaries: [2.5103, 7.6577], network: { channel_mult: [1, 2], num_blocks: 1, attn_resolutions: [4], en_model_channels: 8, de_model_channels: [8, 8, 4] } },
    training: { totalImages: 32, batchSize: 16, lr: 2e-3, lrRampUpImages: 16, ema: { halfLifeImages: 16 } },
    output: { logEveryImages: 32, checkpointEveryImages: 32, snapshotEveryImages: 100000, grid: { count: 1, steps: 2 } },
  });
  await trainer.run();
}
