/**
 * Noise-level embeddings: a scalar per sample (the noise label) to a vector of sinusoids, [cos | sin].
 * (SongUNet then swaps the halves, as EDM's code does.)
 */
import { noGrad, tidy } from '../tensor/engine.js';
import { concat, cos, mulScalar, outer, sin } from '../tensor/ops/index.js';
import { type Tensor, empty, fromArray } from '../tensor/tensor.js';
import type { InitSource } from './init.js';
import { Module } from './module.js';

function sinusoids(x: Tensor, freqs: Tensor): Tensor {
  const phase = outer(x, freqs);
  return concat([cos(phase), sin(phase)], 1);
}

/** DDPM++'s embedding: frequencies (1/maxPositions)^(i/n), i < n = C/2; endpoint divides by n-1 so the last is exactly 1/maxPositions. */
export class PositionalEmbedding extends Module {
  readonly maxPositions: number;
  readonly endpoint: boolean;

  constructor(readonly numChannels: number, options: { maxPositions?: number; endpoint?: boolean } = {}) {
    super();
    this.maxPositions = options.maxPositions ?? 10000;
    this.endpoint = options.endpoint ?? false;
  }

  forward(x: Tensor): Tensor {
    const half = this.numChannels >> 1;
    const denominator = half - (this.endpoint ? 1 : 0);
    const freqs = fromArray(Float32Array.from({ length: half }, (_, i) => (1 / this.maxPositions) ** (i / denominator)), [half], 'float32', x.backend);
    return sinusoids(x, freqs);
  }
}

/** NCSN++'s embedding: random Fourier features, frequencies N(0, scale^2) kept as the buffer `freqs`. */
export class FourierEmbedding extends Module {
  readonly freqs: Tensor;

  constructor(readonly numChannels: number, options: { scale?: number }, source: InitSource) {
    super();
    const shape = [numChannels >> 1];
    const freqs = source === 'empty' ? empty(shape) : noGrad(() => tidy(() => mulScalar(source.normal(shape), options.scale ?? 16)));
    this.freqs = this.registerBuffer('freqs', freqs);
  }

  forward(x: Tensor): Tensor {
    return sinusoids(x, mulScalar(this.freqs, 2 * Math.PI));
  }
}
