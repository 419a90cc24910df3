import { Tensor, empty } from './tensor.js';
import type { Shape } from '../base/shape.js';
import { getBackend } from './engine.js';
import type { Backend } from '../backend/backend.js';
import { philoxFill as philoxFillHost } from '../base/philox.js';

/** Serialisable generator state: a run resumed from it draws exactly the numbers it would have drawn. */
export interface GeneratorState {
  seed: number;
  offset: number;
}

/**
 * A seeded Philox stream. Each draw of n numbers consumes ceil(n/4) counter blocks, so the sequence of
 * draws (not the device) determines the numbers.
 */
export class Generator {
  private key: [number, number];
  private offset = 0;

  constructor(readonly seed: number) {
    if (!Number.isSafeInteger(seed) || seed < 0) throw new Error(`seed must be a non-negative integer, got ${seed}`);
    this.key = [seed >>> 0, Math.floor(seed / 4294967296) >>> 0];
  }

  static fromState(state: GeneratorState): Generator {
    const g = new Generator(state.seed);
    g.offset = state.offset;
    return g;
  }

  state(): GeneratorState {
    return { seed: this.seed, offset: this.offset };
  }

  /**
   * Reserves counter blocks for `count` numbers drawn into a tensor (noise, dropout); returns (key, first
   * block). A data-parallel rank overrides it to draw its share of the whole group's draw.
   */
  take(count: number): { key: readonly [number, number]; counter: number } {
    return this.reserve(count);
  }

  /** Reserves the next ceil(count/4) counter blocks of this stream; host draws always come from here. */
  protected reserve(count: number): { key: readonly [number, number]; counter: number } {
    const counter = this.offset;
    this.offset += Math.ceil(count / 4);
    return { key: this.key, counter };
  }

  normal(shape: Shape, backend: Backend = getBackend()): Tensor {
    const t = empty(shape, 'float32', backend);
    const { key, counter } = this.take(t.size);
    backend.randomNormal(t.buffer, t.size, key, counter);
    return t;
  }

  /** Uniform in (0, 1). */
  uniform(shape: Shape, backend: Backend = getBackend()): Tensor {
    const t = empty(shape, 'float32', backend);
    const { key, counter } = this.take(t.size);
    backend.randomUniform(t.buffer, t.size, key, counter);
    return t;
  }

  /** Host-side uniforms from the same stream (for decisions made on the host, such as stage choice). */
  uniformHost(count: number): Float64Array {
    const { key, counter } = this.reserve(count);
    const f = new Float32Array(count);
    philoxFillHost(f, count, key, counter, false);
    return Float64Array.from(f);
  }

  normalHost(count: number): Float64Array {
    const { key, counter } = this.reserve(count);
    const f = new Float32Array(count);
    philoxFillHost(f, count, key, counter, true);
    return Float64Array.from(f);
  }
}
