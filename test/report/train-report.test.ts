/**
 * Training keeps a report of itself: run.json records the config and each start's environment, and
 * report.html is rewritten at every snapshot; a report that cannot be written costs a warning, never
 * the run.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRunInfo } from '../../src/train/run-info.js';
import { tempDir } from '../data/temp-dir.js';
import { chartSvg, seriesOf } from './chart-reader.js';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));
const cli = (args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });

function tinyRun(root: string): { config: string; runDir: string } {
  const runDir = join(root, 'run');
  const config = join(root, 'config.json');
  writeFileSync(
    config,
    JSON.stringify({
      runDir,
      device: 'cpu',
      data: { source: 'shapes', resolution: 8, count: 64 },
      model: { kind: 'multistage', stageBoundaries: [0.5, 5], network: { channel_mult: [1], num_blocks: 1, attn_resolutions: [], en_model_channels: 8, de_model_channels: [8, 8, 8] } },
      training: { totalImages: 64, batchSize: 16, lrRampUpImages: 16 },
      output: { logEveryImages: 16, checkpointEveryImages: 32, snapshotEveryImages: 32, grid: { count: 4, steps: 2 } },
    }),
  );
  return { config, runDir };
}

test('train writes run.json and refreshes report.html at every snapshot, across a resume', () => {
  const { config, runDir } = tinyRun(tempDir());
  const first = cli(['train', '--config', config, '--images', '32']);
  assert.equal(first.status, 0, first.stderr);
  assert.match(readFileSync(join(runDir, 'report.html'), 'utf8'), /32 images/);
  const resumed = cli(['train', '--config', config, '--resume']);
  assert.equal(resumed.status, 0, resumed.stderr);
  const info = readRunInfo(runDir)!;
  assert.deepEqual(info.environment.map((e) => [e.images, e.device]), [[0, 'cpu'], [32, 'cpu']]);
  assert.equal(info.config.training.totalImages, 64);
  const html = readFileSync(join(runDir, 'report.html'), 'utf8');
  const logged = readFileSync(join(runDir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { images: number; loss: number });
  const loss = seriesOf(chartSvg(html, 'loss')!).get('run')!;
  assert.deepEqual(loss.map(([x]) => Math.round(x)), logged.map((e) => e.images));
  assert.deepEqual((JSON.parse(/<script type="application\/json">(.*?)<\/script>/s.exec(html)![1]) as { label: string }[]).map((g) => g.label), ['32 images', '64 images']);
});

test('a report that cannot be written is a warning, and training finishes', () => {
  const { config, runDir } = tinyRun(tempDir());
  mkdirSync(join(runDir, 'report.html'), { recursive: true });
  const r = cli(['train', '--config', config]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: .*report\.html not refreshed: .*cannot write/);
  assert.match(r.stdout, /done: 64 images/);
});
