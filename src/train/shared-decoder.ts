/**
 * training.sharedDecoderImages, a warm start for a multistage network's decoders: for the first N training
 * images every stage whose decoder has stage 0's width runs through decoder 0 (which so learns from all of
 * their samples, as a unified decoder would); before the first step at or past image N each such decoder
 * takes decoder 0's weights and EMA weights, and its Adam moments (`copy`) or none (`fresh`: Adam starts
 * over on the decoder's own gradients), and every stage runs its own decoder from then on. Decoders of another width are never redirected. What a step does depends only on the images seen
 * when it starts, so a resumed run redirects and copies exactly where an uninterrupted one does.
 */
import type { Module } from '../nn/module.js';
import { MultistageUNet } from '../models/multistage-unet.js';
import type { DiffusionModel } from './diffusion-model.js';
import type { TrainingParts } from './train-step.js';

export class SharedDecoder {
  private constructor(
    private readonly parts: TrainingParts,
    /** The stages that share decoder 0 (never stage 0 itself). */
    readonly stages: readonly number[],
    private readonly images: number,
    private readonly batchSize: number,
    private readonly moments: 'copy' | 'fresh',
  ) {}

  /** null when `images` is 0 (off); throws when the model has no decoder to share. */
  static create(parts: TrainingParts, images: number, batchSize: number, moments: 'copy' | 'fresh' = 'copy'): SharedDecoder | null {
    if (images === 0) return null;
    const unet = multistageUNet(parts.model);
    const widths = unet.deModelChannels;
    const stages = widths.flatMap((c, k) => (k > 0 && c === widths[0] ? [k] : []));
    if (stages.length === 0) {
      throw new Error(`training.sharedDecoderImages: no stage's decoder has stage 0's width (model.network.de_model_channels ${JSON.stringify(widths)}): give a stage stage 0's width, or set it to 0`);
    }
    return new SharedDecoder(parts, stages, images, batchSize, moments);
  }

  /**
   * Sets the routing of the step that starts after `imagesSeen` images; the first step at or past the
   * switch first copies decoder 0 into the shared stages' decoders. Returns whether it copied (step
   * graphs captured under the shared routing are then stale).
   */
  beforeStep(imagesSeen: number): boolean {
    const shared = imagesSeen < this.images;
    const { model, ema, optimizer } = this.parts;
    for (const m of [model, ema]) for (const k of this.stages) multistageUNet(m).decoderOf[k] = shared ? 0 : k;
    if (shared || imagesSeen - this.batchSize >= this.images) return false;
    for (const k of this.stages) {
      for (const m of [model, ema]) copyModule(decoder(m, 0), decoder(m, k));
      // (before the switch a redirected decoder has no gradient, so no moments of its own)
      if (this.moments === 'copy') optimizer.copyState(`${decoderPrefix(model, 0)}.`, `${decoderPrefix(model, k)}.`);
    }
    return true;
  }
}

function multistageUNet(model: DiffusionModel): MultistageUNet {
  if (!(model.unet instanceof MultistageUNet)) throw new Error(`training.sharedDecoderImages needs model.kind "multistage" (it is "${model.spec.model.kind}"): set it to 0`);
  return model.unet;
}

function decoder(model: DiffusionModel, k: number): Module {
  return multistageUNet(model).decs.at(k);
}

/** Decoder k's dotted name in the trained module (as the optimizer names its parameters). */
function decoderPrefix(model: DiffusionModel, k: number): string {
  const target = decoder(model, k);
  const found = model.net.namedModules().find(([, m]) => m === target);
  if (!found) throw new Error(`internal: decoder ${k} is not inside the trained network`);
  return found[0];
}

/** Copies every parameter and buffer of `from` into `to`'s storage, bit for bit (the same structure). */
function copyModule(from: Module, to: Module): void {
  const source = from.stateDict();
  for (const [name, t] of to.stateDict()) {
    const s = source.get(name);
    if (!s || s.size !== t.size || s.dtype !== t.dtype) throw new Error(`internal: decoder tensor ${name} differs in shape between the shared decoders`);
    t.backend.copyRows(s.buffer, 0, 0, t.buffer, 0, 0, 1, t.size);
  }
}
