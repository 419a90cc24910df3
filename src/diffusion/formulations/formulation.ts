/**
 * A diffusion formulation: how a network is trained (noise levels, loss) and how it becomes the denoiser the
 * samplers use. Noise levels are always EDM sigma (host numbers, one per sample) so one StagePartition
 * serves every formulation; each formulation converts to its own time internally.
 */
import type { Tensor } from '../../tensor/index.js';
import type { NoiseDistribution } from '../noise-distribution.js';
import type { Denoiser } from '../denoiser.js';

export interface Formulation<Net> {
  readonly name: string;
  /** The training distribution of noise levels (EDM sigma); stage sampling truncates it per stage. */
  trainingDistribution(): NoiseDistribution;
  /**
   * Per-sample training loss [B] of `net` on clean data x0 [B, C, H, W] noised to levels `sigma` with the
   * standard normal `noise` (shaped like x0). The caller averages over the batch (with stage weights if any).
   */
  loss(net: Net, x0: Tensor, sigma: Float64Array, noise: Tensor): Tensor;
  /** The network as D(x; sigma), for sampling. */
  denoiser(net: Net): Denoiser;
}

/** Shared argument check of the losses: one noise level per sample and noise shaped like the data. */
export function checkBatch(x0: Tensor, sigma: Float64Array, noise: Tensor): void {
  if (x0.ndim < 2) throw new Error(`loss: data must be a batch [B, ...], got shape [${x0.shape.join(', ')}]`);
  if (sigma.length !== x0.shape[0]) throw new Error(`loss: ${sigma.length} noise levels for a batch of ${x0.shape[0]}`);
  if (noise.shape.join() !== x0.shape.join()) throw new Error(`loss: noise [${noise.shape.join(', ')}] is not shaped like the data [${x0.shape.join(', ')}]`);
  for (const s of sigma) if (!(s > 0) || !Number.isFinite(s)) throw new Error(`loss: noise levels must be finite and > 0, got ${s}`);
}
