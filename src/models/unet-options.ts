/**
 * The options EDM's SongUNet and the paper's MultistageUNet share (EDM's constructor arguments, in
 * camelCase), their defaults (EDM's) and the block settings DDPM++/NCSN++ derive from them.
 */
import type { UNetBlockOptions } from '../nn/unet-block.js';

export interface UNetOptions {
  /** Image resolution at input and output. */
  imgResolution: number;
  inChannels: number;
  outChannels: number;
  /** Number of class labels; 0 = unconditional. */
  labelDim?: number;
  /** Augmentation label dimensionality; 0 = no augmentation input. */
  augmentDim?: number;
  /** Per-resolution channel multipliers; one resolution level each. */
  channelMult?: readonly number[];
  /** Embedding width = channelMultEmb x the base width. */
  channelMultEmb?: number;
  /** Residual blocks per resolution. */
  numBlocks?: number;
  /** Resolutions with self-attention. */
  attnResolutions?: readonly number[];
  dropout?: number;
  /** Probability of dropping the class label (classifier-free guidance). */
  labelDropout?: number;
  /** 'positional' for DDPM++, 'fourier' for NCSN++. */
  embeddingType?: 'positional' | 'fourier';
  /** Noise embedding width = channelMultNoise x the base width: 1 for DDPM++, 2 for NCSN++. */
  channelMultNoise?: number;
  /** 'standard' for DDPM++, 'residual' for NCSN++. */
  encoderType?: 'standard' | 'skip' | 'residual';
  decoderType?: 'standard' | 'skip';
  /** [1,1] for DDPM++, [1,3,3,1] for NCSN++. */
  resampleFilter?: readonly number[];
  /** GroupNorm's bound on groups: 16 in the paper's fork (so a 16-wide decoder works), 32 in EDM. */
  numGroups?: number;
}

export type ResolvedUNetOptions = Required<UNetOptions>;

export function positiveInteger(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 1) throw new Error(`${name} must be a positive integer, got ${v}`);
}

function probability(name: string, v: number): void {
  if (!(v >= 0 && v < 1)) throw new Error(`${name} must be in [0, 1), got ${v}`);
}

const DEFAULTS: Omit<ResolvedUNetOptions, 'imgResolution' | 'inChannels' | 'outChannels'> = {
  labelDim: 0,
  augmentDim: 0,
  channelMult: [1, 2, 2, 2],
  channelMultEmb: 4,
  numBlocks: 4,
  attnResolutions: [16],
  dropout: 0.1,
  labelDropout: 0,
  embeddingType: 'positional',
  channelMultNoise: 1,
  encoderType: 'standard',
  decoderType: 'standard',
  resampleFilter: [1, 1],
  numGroups: 16,
};

/** Fills in EDM's defaults and checks every value. */
export function resolveUNetOptions(o: UNetOptions): ResolvedUNetOptions {
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as UNetOptions;
  const r: ResolvedUNetOptions = { ...DEFAULTS, ...given };
  for (const k of ['imgResolution', 'inChannels', 'outChannels', 'channelMultEmb', 'numBlocks', 'channelMultNoise', 'numGroups'] as const) positiveInteger(k, r[k]);
  for (const k of ['labelDim', 'augmentDim'] as const) if (r[k] !== 0) positiveInteger(k, r[k]);
  if (r.channelMult.length === 0) throw new Error('channelMult needs at least one resolution level');
  r.channelMult.forEach((m, i) => positiveInteger(`channelMult[${i}]`, m));
  if (r.imgResolution % 2 ** (r.channelMult.length - 1) !== 0) throw new Error(`imgResolution ${r.imgResolution} does not halve ${r.channelMult.length - 1} times`);
  probability('dropout', r.dropout);
  probability('labelDropout', r.labelDropout);
  if (!['positional', 'fourier'].includes(r.embeddingType)) throw new Error(`embeddingType must be 'positional' or 'fourier', got ${r.embeddingType}`);
  if (!['standard', 'skip', 'residual'].includes(r.encoderType)) throw new Error(`encoderType must be 'standard', 'skip' or 'residual', got ${r.encoderType}`);
  if (!['standard', 'skip'].includes(r.decoderType)) throw new Error(`decoderType must be 'standard' or 'skip', got ${r.decoderType}`);
  if (r.resampleFilter.length === 0 || r.resampleFilter.reduce((a, b) => a + b, 0) === 0) throw new Error(`resampleFilter ${JSON.stringify(r.resampleFilter)} must have a non-zero sum`);
  return r;
}

/** DDPM++/NCSN++ blocks: one attention head, sqrt(0.5) skip scaling, eps 1e-6, additive embedding, xavier init. */
export function songBlockOptions(o: ResolvedUNetOptions): UNetBlockOptions {
  return {
    numHeads: 1,
    dropout: o.dropout,
    skipScale: Math.SQRT1_2,
    eps: 1e-6,
    resampleFilter: o.resampleFilter,
    resampleProj: true,
    adaptiveScale: false,
    init: { mode: 'xavier_uniform' },
    initZero: { mode: 'xavier_uniform', weight: 1e-5 },
    initAttn: { mode: 'xavier_uniform', weight: Math.sqrt(0.2) },
    numGroups: o.numGroups,
  };
}
