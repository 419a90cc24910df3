/**
 * Run reports: `writeReport` renders run folders into one self-contained HTML file, `writeReportPngs`
 * writes the same charts as PNG files for docs.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { linePng } from '../plots/png-plots.js';
import { writeFileAtomic } from '../util/output-file.js';
import { reportCharts } from './charts.js';
import { renderReport } from './html.js';
import { readRuns } from './run-data.js';

export { type ReportChart, minutesAt, reportCharts } from './charts.js';
export { MAX_GRIDS, renderReport, spreadIndices } from './html.js';
export { type EvalPoint, type GridSnapshot, type RunData, type TrainPoint, readRun, readRuns } from './run-data.js';

export const REPORT_FILE = 'report.html';

export function writeReport(runDirs: readonly string[], out: string): void {
  writeFileAtomic(out, renderReport(readRuns(runDirs)));
}

/** Writes each chart with data as DIR/<chart id>.png; returns the files with what each series is. */
export function writeReportPngs(runDirs: readonly string[], dir: string): { path: string; series: string[] }[] {
  mkdirSync(dir, { recursive: true });
  return reportCharts(readRuns(runDirs)).flatMap((c) => {
    if (!c.plot) return [];
    const path = join(dir, `${c.id}.png`);
    // The y label goes in brackets after the title, where the title does not already say it.
    const y = c.title.toLowerCase().includes(c.yLabel.toLowerCase()) ? undefined : c.yLabel;
    writeFileAtomic(path, linePng(c.plot, { title: c.title, x: c.xLabel, y }));
    return [{ path, series: c.plot.series.map((s) => `${s.name ?? ''} rgb(${s.color.join(',')})${s.dashed ? ' dashed' : ''}`) }];
  });
}
