import { join } from 'node:path';
import { REPORT_FILE, writeReport, writeReportPngs } from '../../report/index.js';
import { parseFlagsAndOperands } from '../args.js';

const USAGE = `usage: stagediff report RUN_DIR [RUN_DIR ...] [--out FILE.html] [--png-dir DIR]

Writes one self-contained HTML page (nothing is fetched when it is opened) about training runs: loss in
total and per stage, learning rate, images/s and non-finite steps against training images, FD/FID
points from \`stagediff eval\` against images and minutes, the sample grid of every snapshot (a slider),
the stage partition plot, the config and the environment of each start. Several run folders are drawn
side by side for comparison. \`stagediff train\` refreshes RUN_DIR/${REPORT_FILE} at every snapshot.

  --out FILE      the page (default: RUN_DIR/${REPORT_FILE} for one run, ${REPORT_FILE} for several)
  --png-dir DIR   also write each chart as DIR/<chart>.png (for docs)`;

export function reportCommand(argv: string[]): void {
  const { values, positionals: runDirs } = parseFlagsAndOperands(argv, { out: { type: 'string' }, 'png-dir': { type: 'string' } }, USAGE);
  if (runDirs.length === 0) throw new Error(`name at least one run folder\n\n${USAGE}`);
  const out = values.out ?? (runDirs.length === 1 ? join(runDirs[0], REPORT_FILE) : REPORT_FILE);
  if (!/\.html?$/i.test(out)) throw new Error(`--out ${out}: the report is HTML; give a file name ending in .html`);
  writeReport(runDirs, out);
  console.log(`wrote ${out}`);
  if (values['png-dir']) {
    for (const { path, series } of writeReportPngs(runDirs, values['png-dir'])) console.log(`wrote ${path}: ${series.join('; ')}`);
  }
}
