/** For one output coordinate: the source coordinates it reads and their weights (summing to 1). */
interface Taps {
  first: number;
  weights: Float64Array;
}

/**
 * Resizes CHW uint8 planes with a triangle (bilinear) filter that widens when shrinking, as PIL's
 * resize(BILINEAR) does: downscaling averages every source pixel under an output pixel instead of
 * aliasing, upscaling interpolates between neighbours.
 */
export function resizeBilinear(src: Uint8Array, channels: number, srcHeight: number, srcWidth: number, height: number, width: number): Uint8Array {
  const rowTaps = tapsFor(srcHeight, height);
  const columnTaps = tapsFor(srcWidth, width);
  // Horizontal pass into float rows, then vertical pass with rounding: one rounding in total.
  const rows = new Float64Array(channels * srcHeight * width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < srcHeight; y++) {
      const from = (c * srcHeight + y) * srcWidth;
      for (let x = 0; x < width; x++) {
        const { first, weights } = columnTaps[x];
        let sum = 0;
        for (let k = 0; k < weights.length; k++) sum += weights[k] * src[from + first + k];
        rows[(c * srcHeight + y) * width + x] = sum;
      }
    }
  }
  const out = new Uint8Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      const { first, weights } = rowTaps[y];
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let k = 0; k < weights.length; k++) sum += weights[k] * rows[(c * srcHeight + first + k) * width + x];
        out[(c * height + y) * width + x] = Math.min(255, Math.max(0, Math.round(sum)));
      }
    }
  }
  return out;
}

function tapsFor(srcSize: number, size: number): Taps[] {
  const scale = srcSize / size;
  const support = Math.max(1, scale);
  return Array.from({ length: size }, (_, o) => {
    const centre = (o + 0.5) * scale - 0.5;
    const first = Math.max(0, Math.ceil(centre - support));
    const last = Math.min(srcSize - 1, Math.floor(centre + support));
    const weights = new Float64Array(last - first + 1);
    let total = 0;
    for (let k = 0; k < weights.length; k++) {
      weights[k] = Math.max(0, 1 - Math.abs(first + k - centre) / support);
      total += weights[k];
    }
    // Taps that fall outside the image are dropped; renormalising keeps edges as bright as the interior.
    for (let k = 0; k < weights.length; k++) weights[k] /= total;
    return { first, weights };
  });
}
