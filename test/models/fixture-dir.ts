import { existsSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';

/**
 * The official-network fixtures: $STAGEDIFF_FIXTURE_DIR when set, else test/fixtures/edm of the repository
 * (the test's working directory is its root). They ship with the repository, so a missing folder or file
 * is a test failure, never a reason to skip.
 */
export function fixtureDir(): string {
  return resolve(process.env.STAGEDIFF_FIXTURE_DIR ?? resolve(process.cwd(), 'test/fixtures/edm'));
}

/** The files of the fixture folder ending in `suffix`, without it; [] when the folder is missing. */
export function fixtureNames(dir: string, suffix: string): string[] {
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(suffix)).map((f) => f.slice(0, -suffix.length)).sort() : [];
}
