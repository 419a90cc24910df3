/**
 * The layer order in docs/design.md is the rule for imports: a folder of src/ imports only folders listed
 * below it or on its own line. Read from the document, so the two cannot drift apart.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const root = process.cwd();
const src = join(root, 'src');

/** Rank of each top-level folder: its line in the design document's layer block, top (0) to bottom. */
function layerRanks(): Map<string, number> {
  const design = readFileSync(join(root, 'docs', 'design.md'), 'utf8');
  const block = /```\n(cli\/[^]*?)```/.exec(design);
  assert.ok(block, 'docs/design.md has a layer block starting with cli/');
  const ranks = new Map<string, number>();
  block[1].split('\n').forEach((line, rank) => {
    for (const m of /^((?:[a-z]+\/ )+)/.exec(line)?.[1].matchAll(/([a-z]+)\//g) ?? []) ranks.set(m[1], rank);
  });
  return ranks;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

/** The top-level folder of src/ a path lies in, or null for src/ itself. */
function layerOf(path: string): string | null {
  const parts = relative(src, path).split('/');
  return parts.length > 1 ? parts[0] : null;
}

test('every folder of src/ is in the layer list of docs/design.md', () => {
  const ranks = layerRanks();
  const folders = readdirSync(src, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  assert.deepEqual(folders.filter((f) => !ranks.has(f)), []);
});

test('imports go down the layer list of docs/design.md', () => {
  const ranks = layerRanks();
  const upward: string[] = [];
  for (const file of sourceFiles(src)) {
    const from = layerOf(file);
    if (from === null) continue;
    for (const m of readFileSync(file, 'utf8').matchAll(/from '(\.{1,2}\/[^']+)'/g)) {
      const to = layerOf(resolve(dirname(file), m[1]));
      if (to !== null && to !== from && ranks.get(to)! < ranks.get(from)!) upward.push(`${relative(root, file)} imports ${m[1]} (${to}/ is listed above ${from}/)`);
    }
  }
  assert.deepEqual(upward, []);
});
