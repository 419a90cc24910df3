import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressBar } from '../../src/cli/progress.js';

test('without a terminal the progress prints a line after every 30 s of silence, and only then', () => {
  const written: string[] = [];
  let clock = 0;
  const bar = new ProgressBar('train', { isTTY: false, columns: 80, write: (s: string) => written.push(s) > 0 }, { now: () => clock });
  // one step every 2 s for two minutes, with a log line of its own at 50 s
  for (let step = 1; step <= 60; step++) {
    clock = step * 2000;
    if (clock === 50_000) bar.line('log line');
    bar.update(step * 16, 960, 'x img/s');
  }
  assert.deepEqual(written, ['train 240/960 x img/s ETA 1:30\n', 'log line\n', 'train 640/960 x img/s ETA 0:40\n', 'train 880/960 x img/s ETA 0:10\n']);
});
