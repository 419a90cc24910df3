/**
 * The feature network an evaluation uses, from the command line's choice: a featnet file (FD_featnet) or
 * pytorch-fid's Inception-v3 (FID, the weights from --inception or STAGEDIFF_INCEPTION), with the identity
 * its reference statistics carry.
 */
import type { FeatureNetwork } from './feature-network.js';
import { loadFeatNet } from './featnet.js';
import { inceptionWeightsPath, loadFidInception } from './inception.js';
import type { FeatureIdentity } from './reference-stats.js';

export interface OpenedFeatureNetwork {
  network: FeatureNetwork & { dispose(): void };
  identity: FeatureIdentity;
  /** What to print: "FID" or "FD_featnet". */
  label: string;
  /** The network in words, for the report line. */
  description: string;
}

/** Every correct copy of pytorch-fid's weights is the same network, so FID's identity is its name. */
export const INCEPTION_IDENTITY = 'pytorch-fid inception-v3 (pt_inception-2015-12-05)';

export function openFeatureNetwork(choice: { inception?: string; featnet?: string }): OpenedFeatureNetwork {
  if (choice.inception !== undefined && choice.featnet !== undefined) throw new Error('give --inception (FID) or --featnet (FD_featnet), not both');
  if (choice.featnet !== undefined) {
    const { net, info, digest } = loadFeatNet(choice.featnet);
    return {
      network: net,
      identity: { metric: 'fd_featnet', featureDim: net.featureDim, network: `featnet sha256:${digest.slice(0, 16)}` },
      label: 'FD_featnet',
      description: `featnet ${choice.featnet} (${info.dataset}, ${info.resolution}x${info.resolution}, held-out accuracy ${(100 * info.accuracy).toFixed(1)}%, ${net.featureDim}-d features)`,
    };
  }
  const path = inceptionWeightsPath(choice.inception);
  const net = loadFidInception(path);
  return { network: net, identity: { metric: 'fid', featureDim: net.featureDim, network: INCEPTION_IDENTITY }, label: 'FID', description: `Inception-v3 ${path}` };
}
