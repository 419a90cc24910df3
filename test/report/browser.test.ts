/**
 * The run report in a real browser: Debian's headless Chromium driven by playwright-core. The page loads
 * with no console error and no network request, each chart has a series per run with a point per log
 * entry, and moving a run's slider shows that snapshot's grid. Skips, saying so, where no Chromium is
 * installed (`apt-get install -y chromium`; .ci/run installs it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { REPORT_FILE, writeReport } from '../../src/report/index.js';
import { tempDir } from '../data/temp-dir.js';
import { writeSyntheticRun } from './synthetic-run.js';

const CHROMIUM = process.env.STAGEDIFF_CHROMIUM ?? '/usr/bin/chromium';
const skip = existsSync(CHROMIUM) ? false : `no Chromium at ${CHROMIUM} (install Debian's with \`apt-get install -y chromium\`, or set STAGEDIFF_CHROMIUM)`;

test('the report loads offline without errors, draws every series and its slider changes the grid', { skip, timeout: 120_000 }, async () => {
  const root = tempDir();
  const a = writeSyntheticRun(join(root, 'a'), 1);
  const b = writeSyntheticRun(join(root, 'b'), 2);
  const page = join(root, REPORT_FILE);
  writeReport([a.dir, b.dir], page);
  const url = pathToFileURL(page).href;

  // A fresh profile each time (the user data dir), so no state of another run leaks in.
  const profile = mkdtempSync(join(tmpdir(), 'stagediff-chromium-'));
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const tab = await browser.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    tab.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    tab.on('pageerror', (e) => errors.push(e.message));
    tab.on('request', (r) => r.url() !== url && !r.url().startsWith('data:') && requests.push(r.url()));
    await tab.goto(url, { waitUntil: 'load' });
    assert.deepEqual(errors, [], 'console errors');
    assert.deepEqual(requests, [], 'network requests');

    // Each line series is one path with a point per log entry; both runs are in the shared charts.
    const pointCounts = (chart: string) =>
      tab.$$eval(`#chart-${chart} svg .series`, (els) => els.map((el) => [el.getAttribute('data-name'), el.tagName === 'path' ? (el.getAttribute('d') ?? '').split(/[ML]/).length - 1 : el.querySelectorAll('circle').length]));
    assert.deepEqual(await pointCounts('loss'), [['a', a.train.length], ['b', b.train.length]]);
    assert.deepEqual(await pointCounts('loss-per-stage-1'), [['stage 0', 5], ['stage 1', 4], ['stage 2', 5]]);
    assert.deepEqual(await pointCounts('non-finite-steps'), [['a', 5], ['b', 5]]);
    assert.deepEqual(await pointCounts('fid-vs-images'), [['a', 2], ['b', 2]]);
    // The browser lays the SVG out: the loss path has a real extent.
    const box = await tab.locator('#chart-loss svg path.series').first().boundingBox();
    assert.ok(box && box.width > 100 && box.height > 10, `loss path box ${JSON.stringify(box)}`);

    const grids = tab.locator('.run-grids').first();
    const dataUri = (path: string) => `data:image/png;base64,${readFileSync(path).toString('base64')}`;
    assert.equal(await grids.locator('img').getAttribute('src'), dataUri(a.grids[2]), 'the newest grid first');
    await grids.locator('input[type=range]').fill('0');
    assert.equal(await grids.locator('img').getAttribute('src'), dataUri(a.grids[0]));
    assert.equal(await grids.locator('.grid-label').textContent(), '100 images');
    // The image decodes: the first grid is solid red.
    // (Browser-side code as text: the tests compile without the DOM's types.)
    const red = await tab.evaluate(`(async () => {
      const img = document.querySelector('.run-grids img');
      await img.decode();
      const canvas = document.createElement('canvas');
      canvas.width = img.naturalWidth;
      canvas.height = img.naturalHeight;
      const ctx = canvas.getContext('2d');
      ctx.drawImage(img, 0, 0);
      return [...ctx.getImageData(1, 1, 1, 1).data];
    })()`);
    assert.deepEqual(red, [200, 0, 0, 255]);
    assert.deepEqual(errors, [], 'console errors after moving the slider');
  } finally {
    await browser.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
