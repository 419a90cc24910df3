/** `stagediff cluster --out`: a path that cannot be written is refused before the clustering, writing nothing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

test('cluster --out into a missing folder or with another extension fails at once and writes nothing', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagediff-cluster-out-'));
  try {
    const cases: [string, RegExp][] = [
      [join(dir, 'missing', 'p.json'), /p\.json: the folder .*missing does not exist; create it first/],
      [join(dir, 'p.txt'), /--out .*p\.txt: the partition is JSON; give a name ending in \.json/],
    ];
    for (const [out, message] of cases) {
      const r = spawnSync(process.execPath, [CLI, 'cluster', '--source', 'shapes', '--out', out, '--device', 'cpu'], { encoding: 'utf8' });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, message);
    }
    assert.deepEqual(readdirSync(dir), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
