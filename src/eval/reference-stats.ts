/**
 * Reference statistics files: the npz that pytorch-fid (`--save-stats`) and EDM (fid.py ref) write and
 * read, with float64 `mu` [d] and `sigma` [d, d], so their published files (EDM's cifar10-32x32.npz) work
 * here and ours work there. Ours add one array those tools ignore, `stagediff_features`: the UTF-8 JSON
 * of the feature network's identity, so that eval refuses statistics of another network instead of
 * printing a meaningless number.
 */
import { type NpyArray, readNpz, writeNpz } from '../data/npz.js';
import type { FeatureStatistics } from './frechet.js';

/** Which network made a set of features. */
export interface FeatureIdentity {
  metric: 'fid' | 'fd_featnet';
  featureDim: number;
  /** FID: pytorch-fid's Inception-v3 (any correct copy of its weights); FD_featnet: the featnet file's sha256. */
  network: string;
}

export interface ReferenceStatistics {
  statistics: FeatureStatistics;
  /** Absent in files from pytorch-fid or EDM. */
  identity: FeatureIdentity | null;
}

const IDENTITY_KEY = 'stagediff_features';

export function describeIdentity(id: FeatureIdentity): string {
  return `${id.metric === 'fid' ? 'FID' : 'FD_featnet'} features (${id.featureDim}-d, ${id.network})`;
}

export function writeReferenceStatistics(path: string, statistics: FeatureStatistics, identity: FeatureIdentity): void {
  const d = statistics.dim;
  const json = new TextEncoder().encode(JSON.stringify({ ...identity, count: statistics.count }));
  writeNpz(path, {
    mu: { dtype: '<f8', shape: [d], data: statistics.mu },
    sigma: { dtype: '<f8', shape: [d, d], data: statistics.sigma },
    [IDENTITY_KEY]: { dtype: '|u1', shape: [json.length], data: json },
  });
}

export function readReferenceStatistics(path: string): ReferenceStatistics {
  const arrays = readNpz(path);
  const mu = arrays.get('mu');
  const sigma = arrays.get('sigma');
  if (!mu || !sigma) {
    throw new Error(`${path} holds ${[...arrays.keys()].join(', ') || 'no arrays'}, not reference statistics (mu and sigma); make them with \`stagediff fid-stats\``);
  }
  const d = mu.shape[0];
  if (mu.shape.length !== 1 || sigma.shape.length !== 2 || sigma.shape[0] !== d || sigma.shape[1] !== d) {
    throw new Error(`${path}: mu [${mu.shape.join(', ')}] and sigma [${sigma.shape.join(', ')}] are not [d] and [d, d]`);
  }
  const asFloat64 = (a: NpyArray, name: string): Float64Array => {
    if (a.dtype === '|u1') throw new Error(`${path}: ${name} is uint8, expected float64 (or float32)`);
    const out = Float64Array.from(a.data);
    if (!out.every(Number.isFinite)) throw new Error(`${path}: ${name} has non-finite values`);
    return out;
  };
  let identity: FeatureIdentity | null = null;
  let count = 0;
  const idArray = arrays.get(IDENTITY_KEY);
  if (idArray) {
    try {
      const parsed = JSON.parse(new TextDecoder().decode(idArray.data as Uint8Array)) as FeatureIdentity & { count: number };
      identity = { metric: parsed.metric, featureDim: parsed.featureDim, network: parsed.network };
      count = parsed.count;
    } catch (e) {
      throw new Error(`${path}: ${IDENTITY_KEY} is not valid JSON (${(e as Error).message}); the file is damaged`);
    }
  }
  return { statistics: { mu: asFloat64(mu, 'mu'), sigma: asFloat64(sigma, 'sigma'), dim: d, count }, identity };
}

/**
 * Fails, saying what to do, unless reference statistics `ref` (from `path`) were made by the network of
 * `identity`. A file without an identity (pytorch-fid's, EDM's) is taken as FID and checked by size only.
 */
export function checkReferenceMatches(path: string, ref: ReferenceStatistics, identity: FeatureIdentity): void {
  const remake = `make reference statistics with the same network: \`stagediff fid-stats --data ... --out ${path} ${identity.metric === 'fid' ? '--inception PATH' : '--featnet FILE'}\``;
  if (ref.statistics.dim !== identity.featureDim) {
    throw new Error(
      `${path} holds statistics of ${ref.statistics.dim}-d features${ref.identity ? ` (${describeIdentity(ref.identity)})` : ''}, ` +
        `but ${describeIdentity(identity)} are ${identity.featureDim}-d: they come from different feature networks; ${remake}`,
    );
  }
  if (!ref.identity) {
    if (identity.metric !== 'fid') throw new Error(`${path} has no record of its feature network (a pytorch-fid or EDM file: Inception features); FD_featnet needs statistics of the same featnet; ${remake}`);
    return;
  }
  if (ref.identity.metric !== identity.metric || ref.identity.network !== identity.network) {
    throw new Error(`${path} holds ${describeIdentity(ref.identity)}, but this evaluation uses ${describeIdentity(identity)}; ${remake}`);
  }
}
