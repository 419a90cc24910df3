/**
 * The training generator of one data-parallel rank. Host draws (stage choices, noise levels) are the same
 * on every rank: each rank draws the whole group's batch and keeps its share. Tensor draws (the loss's
 * noise, dropout masks) are sized by the rank's own samples and come in one of two modes:
 *
 * - `slice`: a draw of n numbers reserves the whole group's draw (size * n numbers) and fills the rank's
 *   part of it, so the group draws exactly the numbers one process drawing for the whole batch would
 *   (when n is a multiple of 4, the Philox block size). This holds while every rank draws the same sizes,
 *   which is the case whenever a micro-batch is one stage or the network runs every sample through the
 *   same layers.
 * - `per-rank`: draws come from a key of the rank's own, so ranks never share numbers even when their
 *   draws differ in size (dropout in per-stage decoders when a micro-batch mixes stages: each rank's
 *   decoders see different numbers of samples). The ranks' offsets then drift apart and are brought back
 *   to one with alignTo() before the next host draw.
 */
import { Generator, type GeneratorState } from '../tensor/index.js';

export type RankDrawMode = 'slice' | 'per-rank';

/** Set in the high key word of per-rank streams; seeds are safe integers, so theirs never reach bit 30. */
const RANK_STREAM_TAG = 0x40000000;

export class RankGenerator extends Generator {
  private readonly rankKey: readonly [number, number];

  constructor(
    state: GeneratorState,
    readonly rank: number,
    readonly size: number,
    readonly mode: RankDrawMode,
  ) {
    super(state.seed);
    this.reserve(state.offset * 4);
    this.rankKey = [state.seed >>> 0, (Math.floor(state.seed / 4294967296) ^ (RANK_STREAM_TAG + rank)) >>> 0];
  }

  override take(count: number): { key: readonly [number, number]; counter: number } {
    if (this.mode === 'per-rank') return { key: this.rankKey, counter: this.reserve(count).counter };
    const blocks = Math.ceil(count / 4);
    const { key, counter } = this.reserve(this.size * blocks * 4);
    return { key, counter: counter + this.rank * blocks };
  }

  /** Moves this stream forward to `offset` (counter blocks), the furthest any rank has reached. */
  alignTo(offset: number): void {
    const ahead = offset - this.state().offset;
    if (ahead < 0) throw new Error(`internal: cannot move a generator back from ${this.state().offset} to ${offset}`);
    this.reserve(ahead * 4);
  }
}
