import { openDataset } from '../../data/open-dataset.js';
import { LinearVPSchedule } from '../../diffusion/schedules/linear-vp.js';
import { type ClusterMethod, type ClusterResult, CLUSTER_METHODS, clusterStages, imageVectors } from '../../stages/index.js';
import { clusterPlot } from '../../plots/cluster-plots.js';
import { noiseLevelAt } from '../../diffusion/stage-conversions.js';
import { integerFlag, parseFlags } from '../args.js';
import { useDevice } from '../../runtime/device.js';
import { ProgressBar } from '../progress.js';
import { checkOutputFile, writeFileAtomic } from '../../util/output-file.js';

const USAGE = `usage: stagediff cluster --source S [--data PATH] --out partition.json [options]

Finds stage boundaries by clustering the time axis with the optimal denoiser of the training set (the
paper's Sec. 4.2), on the VP schedule (beta 0.1 -> 20). Writes the partition (boundaries in EDM sigma,
VP t and discrete step), the curves or similarity matrix, and a PNG plot beside it. \`stagediff train\`
reads the partition with --set model.stagesFrom=partition.json.

  --source S        shapes | cifar10 | mnist | folder
  --data PATH       file or folder of the data (not for shapes)
  --resolution N    shapes / folder image size (default 32)
  --limit N         use the first N images only (default: all)
  --method M        ${CLUSTER_METHODS.join(' | ')} (default algorithm1)
  --stages K        number of stages (default 3; algorithm1 needs 3)
  --alpha A         Algorithm 1's agreement level in (0, 1] (default 0.9)
  --eta E           similarity threshold on [0, 1] pixels (default 2/255)
  --samples N       Algorithm 1's samples / pairs per grid point
  --grid N          grid points of optimal-denoiser / snr
  --seed N          seed of the draws (default 0)
  --device D        auto | cpu | cuda (the denoiser's matrix products)
  --out FILE        partition JSON (default partition.json); the plot goes to FILE with .png`;

export interface ClusterRun {
  source: 'shapes' | 'cifar10' | 'mnist' | 'folder';
  data: string | null;
  resolution: number;
  count: number;
  limit?: number;
  method: ClusterMethod;
  stages: number;
  alpha?: number;
  eta?: number;
  samples?: number;
  gridSize?: number;
  seed: number;
  out: string;
}

/** Where the plot of a partition written to `out` goes. */
function plotPath(out: string): string {
  return out.replace(/\.json$/i, '.png');
}

/** Clusters, writes partition JSON + plot, and returns the result; shared by `cluster` and the quickstart. */
export async function runClustering(run: ClusterRun, bar: ProgressBar): Promise<{ result: ClusterResult; json: string; plot: string | null }> {
  // Both outputs are checked before the work, not after it.
  if (!/\.json$/i.test(run.out)) throw new Error(`--out ${run.out}: the partition is JSON; give a name ending in .json (the plot goes beside it as .png)`);
  checkOutputFile(run.out);
  checkOutputFile(plotPath(run.out));
  const dataset = await openDataset({ source: run.source, path: run.data, resolution: run.resolution, count: run.count });
  const started = performance.now();
  const result = clusterStages({
    method: run.method,
    stages: run.stages,
    levelAt: noiseLevelAt(new LinearVPSchedule()),
    dataset: imageVectors(dataset, Math.min(run.limit ?? dataset.length, dataset.length)),
    alpha: run.alpha,
    eta: run.eta,
    samples: run.samples,
    gridSize: run.gridSize,
    seed: run.seed,
    onProgress: (p) => bar.update(p.done, p.total, 'queries'),
  });
  bar.finish();
  const seconds = (performance.now() - started) / 1000;
  writeFileAtomic(run.out, `${JSON.stringify({ ...result.partition.toJSON(), ...result, partition: undefined, dataset: dataset.name, seconds }, null, 1)}\n`);
  const png = clusterPlot(result);
  const plot = png ? plotPath(run.out) : null;
  if (png && plot) writeFileAtomic(plot, png);
  return { result, json: run.out, plot };
}

export async function clusterCommand(argv: string[]): Promise<void> {
  const v = parseFlags(
    argv,
    {
      source: { type: 'string', default: 'cifar10' },
      data: { type: 'string' },
      resolution: { type: 'string', default: '32' },
      limit: { type: 'string' },
      method: { type: 'string', default: 'algorithm1' },
      stages: { type: 'string', default: '3' },
      alpha: { type: 'string' },
      eta: { type: 'string' },
      samples: { type: 'string' },
      grid: { type: 'string' },
      seed: { type: 'string', default: '0' },
      device: { type: 'string', default: 'auto' },
      out: { type: 'string', default: 'partition.json' },
    },
    USAGE,
  );
  const sources = ['shapes', 'cifar10', 'mnist', 'folder'];
  if (!sources.includes(v.source!)) throw new Error(`--source must be one of ${sources.join(', ')}, got "${v.source}"`);
  const number = (name: string, s: string | undefined) => {
    if (s === undefined) return undefined;
    const x = s.includes('/') ? Number(s.split('/')[0]) / Number(s.split('/')[1]) : Number(s);
    if (!Number.isFinite(x)) throw new Error(`--${name} must be a number, got "${s}"`);
    return x;
  };
  const device = await useDevice(v.device!, 'fp32');
  const bar = new ProgressBar('cluster');
  const { result, json, plot } = await runClustering(
    {
      source: v.source as ClusterRun['source'],
      data: v.data ?? null,
      resolution: integerFlag('resolution', v.resolution, 8)!,
      count: 10000,
      limit: integerFlag('limit', v.limit, 1),
      method: v.method as ClusterMethod,
      stages: integerFlag('stages', v.stages, 1)!,
      alpha: number('alpha', v.alpha),
      eta: number('eta', v.eta),
      samples: integerFlag('samples', v.samples, 1),
      gridSize: integerFlag('grid', v.grid, 2),
      seed: integerFlag('seed', v.seed)!,
      out: v.out!,
    },
    bar,
  );
  console.log(`${result.method} on ${device}: boundaries t ${result.boundaries.map((b) => b.t.toFixed(4)).join(' / ')}, sigma ${result.boundaries.map((b) => b.sigma.toFixed(4)).join(' / ')}, step ${result.boundaries.map((b) => b.step).join(' / ')}`);
  console.log(`wrote ${json}${plot ? ` and ${plot}` : ''}`);
}
