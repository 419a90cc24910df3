/**
 * A run folder as training and evaluation leave it, written from known numbers: log.jsonl with training
 * entries (one stage without samples in one interval), eval entries, a line of another event and one
 * corrupt line; three sample grids of distinct solid colours; run.json; a partition with its plot.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePng } from '../../src/data/png.js';
import { presetConfig, resolveTrainConfig } from '../../src/train/config.js';

export interface SyntheticRun {
  dir: string;
  train: { step: number; images: number; lr: number; loss: number; lossPerStage: (number | null)[]; imagesPerSecond: number; elapsedSeconds: number; nonFiniteSteps: number }[];
  evals: { metric: string; value: number; images: number; count: number }[];
  grids: string[];
  partitionPlot: string;
}

export function solidPng(rgb: readonly number[], size = 8): Buffer {
  const data = new Uint8Array(size * size * 4);
  for (let i = 0; i < size * size; i++) data.set([rgb[0], rgb[1], rgb[2], 255], i * 4);
  return encodePng({ width: size, height: size, data });
}

/** The sampler record `stagediff eval` logs with each entry. */
export const HEUN = { name: 'heun', steps: 18, evaluations: 35, precision: 'fp32' };

/** `scale` changes the numbers, so two runs differ. */
export function writeSyntheticRun(dir: string, scale = 1): SyntheticRun {
  mkdirSync(dir, { recursive: true });
  const train = [1, 2, 3, 4, 5].map((k) => ({
    step: k * 4,
    images: k * 64,
    lr: 1e-3 * Math.min(1, k / 3),
    loss: scale * (1 / k + 0.1),
    lossPerStage: [scale * (0.5 / k), k === 2 ? null : scale * (1 / k), scale * (2 / k)],
    imagesPerSecond: 100 + 10 * k,
    elapsedSeconds: 30 * k * k,
    nonFiniteSteps: k === 4 ? 2 : 0,
  }));
  const evals = [
    { metric: 'fid', value: scale * 80, images: 128, count: 1000 },
    { metric: 'fid', value: scale * 40, images: 288, count: 1000 },
  ];
  const lines = [
    ...train.slice(0, 3).map((e) => JSON.stringify({ time: '2026-01-01T00:00:00Z', ...e })),
    JSON.stringify({ event: 'eval', ...evals[0], checkpoint: 'checkpoint-000000000128.safetensors', sampler: HEUN, seconds: 12 }),
    '{"truncated line',
    JSON.stringify({ event: 'something-else', images: 192 }),
    ...train.slice(3).map((e) => JSON.stringify(e)),
    JSON.stringify({ event: 'eval', ...evals[1], checkpoint: 'checkpoint-000000000288.safetensors', sampler: HEUN, seconds: 12 }),
  ];
  writeFileSync(join(dir, 'log.jsonl'), `${lines.join('\n')}\n`);
  const grids = [[200, 0, 0], [0, 200, 0], [0, 0, 200]].map((rgb, k) => {
    const path = join(dir, `grid-${String((k + 1) * 100).padStart(12, '0')}.png`);
    writeFileSync(path, solidPng(rgb));
    return path;
  });
  const partitionPlot = join(dir, 'partition.png');
  writeFileSync(partitionPlot, solidPng([9, 9, 9], 4));
  writeFileSync(join(dir, 'partition.json'), '{"sigma_boundaries":[0.5,2]}');
  const config = resolveTrainConfig({ ...presetConfig('quickstart'), runDir: dir, model: { ...(presetConfig('quickstart').model as object), stageBoundaries: null, stagesFrom: join(dir, 'partition.json') }, training: { ...(presetConfig('quickstart').training as object), lr: scale * 1e-3 } });
  const environment = [{ images: 0, startedAt: '2026-01-01T00:00:00Z', device: 'cpu', node: 'v20.0.0', stagediff: '0.1.0' }, { images: 192, startedAt: '2026-01-01T01:00:00Z', device: 'cuda (NVIDIA H200, bf16)', gpu: 'NVIDIA H200 <test>' }];
  writeFileSync(join(dir, 'run.json'), JSON.stringify({ config, environment }));
  return { dir, train, evals, grids, partitionPlot };
}
