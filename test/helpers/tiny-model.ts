/**
 * The tiny multistage model that training runs in the tests use (8x8 images, two resolutions, decoders 8,
 * 8 and 4 wide, attention at 4x4, dropout on so that the masks are part of what two runs must agree on).
 * A fresh object per call: a test may change it without touching another's.
 */
export function tinyMultistageModel(): Record<string, unknown> {
  return { kind: 'multistage', stageBoundaries: [2.5103, 7.6577], network: { channel_mult: [1, 2], num_blocks: 1, attn_resolutions: [4], en_model_channels: 8, de_model_channels: [8, 8, 4], dropout: 0.1 } };
}
