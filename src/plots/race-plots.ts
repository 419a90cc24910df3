/**
 * The quality race's curves (scripts/gpu-race.sh, docs/results.md): FD of each configuration against the
 * training time or the images it had seen, one coloured line with dots per configuration.
 */
import { type Series, PALETTE, dataRange } from './chart.js';
import { linePng } from './png-plots.js';

/** One evaluated checkpoint of a race run: a line of results.jsonl. */
export interface RacePoint {
  /** The configuration's name. */
  name: string;
  /** Training minutes when the checkpoint was written. */
  minutes: number;
  /** Images seen at the checkpoint. */
  images: number;
  /** The Frechet distance of its samples (FD_featnet or FID). */
  fd: number;
}

export type RaceAxis = 'minutes' | 'images';

const AXIS_LABEL: Record<RaceAxis, string> = { minutes: 'training minutes', images: 'training images seen' };

/** FD against `axis`, a line per configuration in order of first appearance; `metric` names the y axis. */
export function raceCurvesPng(points: readonly RacePoint[], axis: RaceAxis, metric = 'FD'): Buffer {
  if (points.length === 0) throw new Error('race plot: no results to plot');
  const names = [...new Set(points.map((p) => p.name))];
  const series: Series[] = names.flatMap((name, i) => {
    const mine = points.filter((p) => p.name === name).sort((a, b) => a[axis] - b[axis]);
    const x = mine.map((p) => p[axis]);
    const y = mine.map((p) => p.fd);
    const color = PALETTE[i % PALETTE.length];
    return [
      { x, y, color, kind: 'line', name },
      { x, y, color, kind: 'dots' },
    ];
  });
  return linePng(
    { x: dataRange(points.map((p) => p[axis]), true), y: dataRange(points.map((p) => p.fd), true), series },
    { title: `${metric} against ${AXIS_LABEL[axis]}`, x: AXIS_LABEL[axis], y: 'lower is better' },
  );
}
