import { existsSync } from 'node:fs';
import { resolve } from 'node:path';

/** The reference fixtures: $STAGEDIFF_FIXTURE_DIR, else ../shared/reference/edm from the repository root (the test's working directory). */
export function fixtureDir(): { dir: string; missing: string | null } {
  const dir = resolve(process.env.STAGEDIFF_FIXTURE_DIR ?? resolve(process.cwd(), '../shared/reference/edm'));
  return { dir, missing: existsSync(dir) ? null : `fixture folder ${dir} not found (set STAGEDIFF_FIXTURE_DIR)` };
}
