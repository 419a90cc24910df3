import { resolve } from 'node:path';

/** The FID fixtures: $STAGEDIFF_FID_FIXTURE_DIR, else the copy inside the repository (test/fixtures/fid). */
export function fidFixtureDir(): string {
  return resolve(process.env.STAGEDIFF_FID_FIXTURE_DIR ?? resolve(process.cwd(), 'test/fixtures/fid'));
}
