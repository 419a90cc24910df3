import { openDataset } from '../../data/open-dataset.js';
import { datasetStatistics } from '../../eval/image-features.js';
import { openFeatureNetwork } from '../../eval/open-feature-network.js';
import { writeReferenceStatistics } from '../../eval/reference-stats.js';
import { checkOutputFile } from '../../util/output-file.js';
import { useDevice } from '../../runtime/device.js';
import { integerFlag, parseFlags } from '../args.js';
import { DATASET_FLAGS, DATASET_USAGE, datasetFromFlags } from '../dataset-flags.js';
import { ProgressBar, formatDuration } from '../progress.js';

const USAGE = `usage: stagediff fid-stats --data PATH --out ref.npz [--inception PATH | --featnet FILE] [options]

Feature statistics (mean and covariance, float64) of a dataset's images: the reference that \`stagediff eval\`
compares samples with. The npz holds mu and sigma as pytorch-fid and EDM write and read them (their
published files work with eval too), plus a record of the feature network.

${DATASET_USAGE}
  --out FILE           the statistics (.npz)
  --inception PATH     FID: pytorch-fid's Inception-v3 weights as safetensors (default: $STAGEDIFF_INCEPTION;
                       docs/evaluation.md says how to make the file)
  --featnet FILE       FD_featnet instead of FID: a network from \`stagediff featnet\`
  --batch N            images per feature batch (default 250)
  --device D           auto | cpu | cuda`;

export async function fidStatsCommand(argv: string[]): Promise<void> {
  const v = parseFlags(
    argv,
    {
      ...DATASET_FLAGS,
      out: { type: 'string' },
      inception: { type: 'string' },
      featnet: { type: 'string' },
      batch: { type: 'string', default: '250' },
      device: { type: 'string', default: 'auto' },
    },
    USAGE,
  );
  if (!v.out) throw new Error(`--out is required\n\n${USAGE}`);
  const spec = datasetFromFlags(v);
  const batch = integerFlag('batch', v.batch, 1)!;
  checkOutputFile(v.out);
  const device = await useDevice(v.device!);
  const opened = openFeatureNetwork({ inception: v.inception, featnet: v.featnet });
  const dataset = await openDataset(spec);
  if (dataset.length < 2) throw new Error(`${dataset.name} has ${dataset.length} image; statistics need at least 2`);
  const bar = new ProgressBar('fid-stats');
  const started = performance.now();
  const statistics = datasetStatistics(dataset, opened.network, batch, (done, total) => bar.update(done, total, 'images'));
  bar.finish();
  writeReferenceStatistics(v.out, statistics, opened.identity);
  console.log(
    `${opened.label} reference statistics of ${statistics.count} images (${dataset.name}) on ${device} in ${formatDuration((performance.now() - started) / 1000)}: ` +
      `${opened.description}; wrote ${v.out}`,
  );
}
