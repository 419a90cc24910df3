/**
 * Mirrors, in place, the images of an NCHW uint8 batch whose entry in `flipped` is non-zero (left becomes
 * right). Horizontal flips are the one augmentation that keeps natural images natural, which is why
 * DDPM and EDM train CIFAR-10 with them.
 */
export function flipHorizontally(images: Uint8Array, shape: readonly [number, number, number, number], flipped: Uint8Array): void {
  const [count, channels, height, width] = shape;
  const rowsPerImage = channels * height;
  for (let n = 0; n < count; n++) {
    if (!flipped[n]) continue;
    for (let row = n * rowsPerImage; row < (n + 1) * rowsPerImage; row++) images.subarray(row * width, (row + 1) * width).reverse();
  }
}
