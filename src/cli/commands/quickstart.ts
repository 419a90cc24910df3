/**
 * `npm start`: the whole method on built-in data in minutes on a CPU. Clusters the time axis of the
 * shapes data with its optimal denoiser (Algorithm 1), trains a small multistage model with those stage
 * boundaries, samples a grid, and writes a short report.
 */
import { existsSync } from 'node:fs';
import { writeFileAtomic } from '../../util/output-file.js';
import { makeOutputDir } from '../../util/output-dir.js';
import { join } from 'node:path';
import { presetConfig } from '../../train/config.js';
import { integerFlag, parseFlags } from '../args.js';
import { useDevice } from '../../runtime/device.js';
import { ProgressBar, formatDuration } from '../progress.js';
import { runClustering } from './cluster.js';
import { runTraining } from './train.js';
import { sample } from '../../diffusion/sample.js';
import { EDM_CHURN_RANGE } from '../../diffusion/samplers/heun.js';
import { writePngGrid } from '../../data/png.js';
import { REPORT_FILE } from '../../report/index.js';

/**
 * The quickstart's picture: EDM's stochastic sampler (Heun with churn as in EDM's ImageNet-64 setting,
 * S_churn 40, S_noise 1.003, between sigma 0.05 and 50; 64 steps = 127 evaluations, about 15 s for 36
 * images on 2 cores). At the quickstart's budget the network's errors pile up along the deterministic ODE
 * into rough blobs; the fresh noise of each churn step lets later steps correct them, which gives cleaner
 * single-colour shapes from the same network. The training's own grid (deterministic Heun, 18 steps) is
 * written beside it.
 */
const GRID_SAMPLER = { name: 'heun', churn: 40, ...EDM_CHURN_RANGE } as const;
const GRID = { count: 36, steps: 64, seed: 1 };

const USAGE = `usage: stagediff quickstart [--run-dir DIR] [--device auto|cpu|cuda] [--images N]

Clusters the built-in 16x16 shapes data into three noise stages with its optimal denoiser, trains a small
multistage model on it with those boundaries, and writes a sample grid and a report (a few minutes on a
2-core CPU). Each run gets a new folder: runs/quickstart, runs/quickstart-2, ... --images N stops training
after N images (a shorter, rougher run).`;

function freshRunDir(base: string): string {
  if (!existsSync(base)) return base;
  for (let i = 2; ; i++) if (!existsSync(`${base}-${i}`)) return `${base}-${i}`;
}

export async function quickstartCommand(argv: string[]): Promise<void> {
  const v = parseFlags(argv, { 'run-dir': { type: 'string' }, device: { type: 'string', default: 'auto' }, images: { type: 'string' } }, USAGE);
  const started = performance.now();
  const device = await useDevice(v.device!);
  const runDir = v['run-dir'] ?? freshRunDir('runs/quickstart');
  const config = presetConfig('quickstart') as { data: { resolution: number; count: number }; model: Record<string, unknown>; runDir: string; device: string };
  config.runDir = runDir;
  config.device = v.device!;

  const bar = new ProgressBar('cluster');
  bar.line(`1/2 stage boundaries: Algorithm 1 on the shapes data (optimal denoiser of 1024 images, VP schedule), on ${device}`);
  const partitionPath = join(runDir, 'partition.json');
  makeOutputDir(runDir, '--run-dir');
  const clustering = await runClustering(
    { source: 'shapes', data: null, resolution: config.data.resolution, count: config.data.count, limit: 1024, method: 'algorithm1', stages: 3, seed: 0, out: partitionPath },
    bar,
  );
  const sigmas = clustering.result.boundaries.map((b) => b.sigma.toFixed(3));
  bar.line(`    boundaries: VP t ${clustering.result.boundaries.map((b) => b.t.toFixed(3)).join(' / ')} = sigma ${sigmas.join(' / ')} (${partitionPath})`);

  config.model = { ...config.model, stageBoundaries: null, stagesFrom: partitionPath };
  bar.line('2/2 training the multistage model');
  const result = await runTraining(config, { resume: false, stopAtImages: integerFlag('images', v.images, 1) });
  const samplesPath = join(runDir, 'samples.png');
  const drawn = sample({ model: result.ema.denoiser(), shape: result.ema.imageShape, batch: GRID.count, seed: GRID.seed, steps: GRID.steps, sampler: GRID_SAMPLER, partition: result.ema.partition });
  writePngGrid(samplesPath, drawn.images);
  drawn.images.dispose();
  bar.line(`samples (EMA weights, EDM stochastic Heun ${GRID.steps} steps): ${samplesPath}`);
  const seconds = (performance.now() - started) / 1000;
  const report = [
    '# stagediff quickstart',
    '',
    `- data: built-in shapes, ${config.data.count} images of 3x${config.data.resolution}x${config.data.resolution}`,
    `- stage boundaries (Algorithm 1 on this data): sigma ${sigmas.join(' / ')}; partition ${partitionPath}${clustering.plot ? `, plot ${clustering.plot}` : ''}`,
    `- model: multistage U-Net, ${result.model.net.numParameters()} parameters`,
    `- trained ${result.imagesSeen} images (${result.steps} steps) in ${formatDuration(result.elapsedSeconds)}: ${result.imagesPerSecond.toFixed(1)} images/s`,
    `- final loss per stage (mean per-image loss over the last log interval): ${result.finalLossPerStage.map((l) => (l === null ? '-' : l.toFixed(2))).join(' / ')}`,
    `- samples (EMA weights, EDM stochastic Heun ${GRID.steps} steps = ${drawn.evaluations} evaluations, S_churn ${GRID_SAMPLER.churn}): ${samplesPath}`,
    `- deterministic grid (EMA weights, EDM Heun ${GRID.steps} steps, the training's own): ${result.grid}`,
    `- checkpoint: ${result.checkpoint} (sample more: stagediff sample --checkpoint ${runDir} --out more.png)`,
    `- training log: ${result.log}; curves and grids in a browser: ${join(runDir, REPORT_FILE)}`,
    `- total time: ${formatDuration(seconds)}`,
    '',
  ].join('\n');
  writeFileAtomic(join(runDir, 'report.md'), report);
  console.log(`\n${report}\nreport: ${join(runDir, 'report.md')}`);
}
