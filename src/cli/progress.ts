/**
 * Progress for long commands: a redrawn bar on a terminal; when the output is a file or a pipe (CI logs,
 * nohup), plain lines: the command's own log lines, and the bar's state as a line whenever nothing was
 * printed for `quietSeconds` (30), so a slow run never looks hung.
 */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${String(r).padStart(2, '0')}` : `${m}:${String(r).padStart(2, '0')}`;
}

export function formatCount(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)}G`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)}M`;
  if (n >= 1e4) return `${(n / 1e3).toFixed(1)}k`;
  return String(Math.round(n));
}

export interface ProgressOptions {
  /** Without a terminal, the longest silence before the bar's state is printed as a line. */
  quietSeconds?: number;
  /** Milliseconds clock (tests drive it). */
  now?: () => number;
}

type Stream = Pick<NodeJS.WriteStream, 'write' | 'isTTY' | 'columns'>;

export class ProgressBar {
  private readonly tty: boolean;
  private lastDraw = 0;
  private lastPrinted: number;
  private readonly started: number;
  private readonly quietMs: number;
  private readonly now: () => number;

  constructor(private readonly label: string, private readonly stream: Stream = process.stderr, options: ProgressOptions = {}) {
    this.tty = Boolean(stream.isTTY) && !process.env.CI;
    this.now = options.now ?? (() => performance.now());
    this.quietMs = (options.quietSeconds ?? 30) * 1000;
    this.started = this.now();
    this.lastPrinted = this.started;
  }

  /** Redraws the bar (at most 10 times a second); without a terminal, a line after each quiet spell. */
  update(done: number, total: number, detail: string): void {
    const now = this.now();
    if (!this.tty) {
      if (now - this.lastPrinted < this.quietMs) return;
      this.line(`${this.label} ${formatCount(done)}/${formatCount(total)} ${detail} ETA ${formatDuration(this.eta(done, total, now))}`);
      return;
    }
    if (now - this.lastDraw < 100 && done < total) return;
    this.lastDraw = now;
    const width = 24;
    const filled = Math.round(Math.min(1, done / Math.max(total, 1)) * width);
    const line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatCount(done)}/${formatCount(total)} ${detail} ETA ${formatDuration(this.eta(done, total, now))}`;
    this.stream.write(`\r${line.slice(0, (this.stream.columns ?? 120) - 1)}\x1b[K`);
  }

  private eta(done: number, total: number, now: number): number {
    const frac = Math.min(1, done / Math.max(total, 1));
    return frac > 0 ? ((now - this.started) / 1000) * ((1 - frac) / frac) : Infinity;
  }

  /** A line that stays: above the bar on a terminal, plain elsewhere. */
  line(text: string): void {
    this.lastPrinted = this.now();
    if (this.tty) this.stream.write(`\r\x1b[K${text}\n`);
    else this.stream.write(`${text}\n`);
  }

  finish(): void {
    if (this.tty) this.stream.write('\n');
  }
}
