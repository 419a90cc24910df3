/**
 * The README's library example, run exactly as printed: the code block is written to a file in a folder
 * where `stagediff` resolves to this repository (as after `npm install stagediff`), and run with Node.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { tempDir } from './data/temp-dir.js';

test("the README's library example runs as printed and draws its grid", () => {
  const readme = readFileSync(resolve(process.cwd(), 'README.md'), 'utf8');
  const blocks = [...readme.matchAll(/```ts\n([^]*?)```/g)].map((m) => m[1]);
  assert.equal(blocks.length, 1, 'the README has one TypeScript example');
  const dir = tempDir();
  mkdirSync(join(dir, 'node_modules'));
  symlinkSync(process.cwd(), join(dir, 'node_modules', 'stagediff'), 'dir');
  // The example is TypeScript only in its fence: it must be valid JavaScript as printed.
  writeFileSync(join(dir, 'example.mjs'), blocks[0]);
  const r = spawnSync(process.execPath, ['example.mjs'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  // EDM Heun, 8 steps = 15 evaluations of a 4-image batch, counted in the stage of each noise level
  const perStage = /^network evaluations per stage: (\d+) \/ (\d+) \/ (\d+)$/m.exec(r.stdout);
  assert.ok(perStage, r.stdout);
  assert.equal(perStage.slice(1).map(Number).reduce((a, b) => a + b), 15);
  assert.ok(perStage.slice(1).every((n) => Number(n) > 0));
  assert.equal(readFileSync(join(dir, 'samples.png')).subarray(1, 4).toString(), 'PNG');
});
