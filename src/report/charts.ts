/**
 * The charts of a report, as renderer-independent specs: the HTML page draws them as SVG and
 * `--png-dir` writes the same specs as PNG. Runs share a chart (one colour each) wherever one value per
 * run is plotted; loss per stage gets one chart per run (one colour per stage).
 */
import { type LinePlot, PALETTE, type Series, dataRange } from '../plots/chart.js';
import type { RunData, TrainPoint } from './run-data.js';

export interface ReportChart {
  /** File-name-safe: the PNG export is `<id>.png`. */
  id: string;
  title: string;
  xLabel: string;
  yLabel: string;
  /** Null when no run has the data; `missing` then says why. */
  plot: LinePlot | null;
  missing?: string;
  /** Named series with no point (a stage without samples so far, a run without eval entries). */
  absent?: string[];
}

const IMAGES = 'training images';

function chart(id: string, title: string, xLabel: string, yLabel: string, series: Series[], missing: string, yFromZero = false): ReportChart {
  const drawn = series.filter((s) => s.x.length > 0);
  if (drawn.length === 0) return { id, title, xLabel, yLabel, plot: null, missing };
  const absent = series.filter((s) => s.x.length === 0).map((s) => s.name ?? '');
  return {
    id,
    title,
    xLabel,
    yLabel,
    ...(absent.length ? { absent } : {}),
    plot: { x: dataRange(drawn.flatMap((s) => s.x), true), y: dataRange(drawn.flatMap((s) => s.y), yFromZero), series: drawn },
  };
}

/** A series of the finite points of `value` over a run's training entries. */
function trainSeries(points: readonly TrainPoint[], value: (p: TrainPoint) => number | null, style: Omit<Series, 'x' | 'y'>): Series {
  const kept = points.map((p) => [p.images, value(p)] as const).filter((xy): xy is readonly [number, number] => xy[1] !== null && Number.isFinite(xy[1]));
  return { ...style, x: kept.map((xy) => xy[0]), y: kept.map((xy) => xy[1]) };
}

/**
 * Training minutes at `images`, interpolated between the log entries around it (the log records elapsed
 * seconds at each entry); null outside the logged range.
 */
export function minutesAt(points: readonly TrainPoint[], images: number): number | null {
  const timed = points.filter((p) => Number.isFinite(p.elapsedSeconds));
  for (let i = 0; i < timed.length; i++) {
    const b = timed[i];
    if (b.images === images) return b.elapsedSeconds / 60;
    if (b.images > images) {
      if (i === 0) return images >= 0 && b.images > 0 ? ((images / b.images) * b.elapsedSeconds) / 60 : null;
      const a = timed[i - 1];
      return (a.elapsedSeconds + ((images - a.images) / (b.images - a.images)) * (b.elapsedSeconds - a.elapsedSeconds)) / 60;
    }
  }
  return null;
}

/**
 * One series per run and sampling setting (a run evaluated with two samplers has two curves), named by
 * the run, and by the setting where a run has several.
 */
function evalSeries(runs: readonly RunData[], metric: string, against: 'images' | 'minutes'): Series[] {
  const curves = runs.flatMap((run) => {
    const evals = run.evals.filter((e) => e.metric === metric);
    const settings = [...new Set(evals.map((e) => e.setting))];
    // A run without points of this metric still has its (empty) series, for the legend to name.
    if (settings.length === 0) return [{ name: run.name, points: [] }];
    return settings.map((setting) => ({
      name: settings.length > 1 ? `${run.name}: ${setting || 'unknown setting'}` : run.name,
      points: evals
        .filter((e) => e.setting === setting)
        .map((e) => [against === 'images' ? e.images : minutesAt(run.train, e.images), e.value] as const)
        .filter((p): p is readonly [number, number] => p[0] !== null),
    }));
  });
  return curves.map(({ name, points }, i) => ({ name, color: PALETTE[i % PALETTE.length], kind: points.length > 1 ? 'line' : 'dots', x: points.map((p) => p[0]), y: points.map((p) => p[1]) }));
}

const METRIC_NAMES: Record<string, string> = { fid: 'FID', fd_featnet: 'FD (featnet)' };

export function reportCharts(runs: readonly RunData[]): ReportChart[] {
  const perRun = (value: (p: TrainPoint) => number | null, kind: Series['kind'] = 'line'): Series[] =>
    runs.map((r, k) => trainSeries(r.train, value, { name: r.name, color: PALETTE[k % PALETTE.length], kind }));
  const noLog = 'no training entries in log.jsonl yet';
  const charts: ReportChart[] = [chart('loss', 'Loss (weighted, mean over each log interval)', IMAGES, 'loss', perRun((p) => p.loss), noLog)];
  runs.forEach((r, k) => {
    const stages = Math.max(0, ...r.train.map((p) => p.lossPerStage.length));
    const series = Array.from({ length: stages }, (_, s) => trainSeries(r.train, (p) => p.lossPerStage[s] ?? null, { name: `stage ${s}`, color: PALETTE[s % PALETTE.length], kind: 'line' }));
    const suffix = runs.length > 1 ? `-${k + 1}` : '';
    charts.push(chart(`loss-per-stage${suffix}`, `Loss per stage (unweighted per-image mean)${runs.length > 1 ? `: ${r.name}` : ''}`, IMAGES, 'loss', series, noLog));
  });
  charts.push(
    chart('learning-rate', 'Learning rate', IMAGES, 'lr', perRun((p) => p.lr), noLog, true),
    chart('images-per-second', 'Training speed', IMAGES, 'images/s', perRun((p) => p.imagesPerSecond), noLog, true),
    chart('non-finite-steps', 'Steps with NaN/Inf gradients (repaired), per log interval', IMAGES, 'steps', perRun((p) => p.nonFiniteSteps, 'dots'), noLog, true),
  );
  const metrics = [...new Set(runs.flatMap((r) => r.evals.map((e) => e.metric)))].sort();
  if (metrics.length === 0) {
    charts.push({ id: 'eval', title: 'FD / FID', xLabel: IMAGES, yLabel: '', plot: null, missing: 'no eval entries in log.jsonl: evaluate checkpoints with `stagediff eval` to add FD/FID points' });
  }
  for (const metric of metrics) {
    const label = METRIC_NAMES[metric] ?? metric;
    const id = metric.replace(/[^a-z0-9]+/gi, '-').toLowerCase();
    charts.push(
      chart(`${id}-vs-images`, `${label} against training images`, IMAGES, label, evalSeries(runs, metric, 'images'), 'no points'),
      chart(`${id}-vs-minutes`, `${label} against training time`, 'training minutes', label, evalSeries(runs, metric, 'minutes'), 'no eval point falls within the logged training time'),
    );
  }
  return charts;
}
