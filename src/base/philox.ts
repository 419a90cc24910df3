/**
 * Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a counter-based
 * generator, so element i of any draw is a pure function of (key, counter) and every backend produces the
 * same stream. This is the host reference; the CUDA kernels implement the same rounds.
 */
const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High 32 bits of the 64-bit product of two uint32 (exact, via 16-bit halves). */
function mulhi(a: number, b: number): number {
  const aHi = a >>> 16;
  const aLo = a & 0xffff;
  const bHi = b >>> 16;
  const bLo = b & 0xffff;
  const lolo = aLo * bLo;
  const hilo = aHi * bLo;
  const lohi = aLo * bHi;
  const hihi = aHi * bHi;
  const cross = (lolo >>> 16) + (hilo & 0xffff) + (lohi & 0xffff);
  return (hihi + (hilo >>> 16) + (lohi >>> 16) + Math.floor(cross / 65536)) >>> 0;
}

/** Ten Philox rounds on counter (c0..c3) with key (k0, k1); writes four uint32 into out[0..3]. */
export function philox4x32(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array): void {
  for (let r = 0; r < 10; r++) {
    const hi0 = mulhi(M0, c0);
    const lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2);
    const lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/** A uint32 to a float32-exact uniform in (0, 1): odd multiples of 2^-24, never 0 or 1. */
export function uint32ToUniform(u: number): number {
  return ((u >>> 9) * 2 + 1) * 5.9604644775390625e-8;
}

/**
 * Fills out[0..length) from the stream: element i uses counter block (counterOffset + floor(i/4)), lane i%4.
 * Normals come from Box-Muller on lane pairs (0,1) and (2,3): r = sqrt(-2 ln u0), n0 = r cos(2 pi u1),
 * n1 = r sin(2 pi u1).
 */
export function philoxFill(out: Float32Array, length: number, key: readonly [number, number], counterOffset: number, normal: boolean): void {
  const block = new Uint32Array(4);
  const blocks = Math.ceil(length / 4);
  for (let b = 0; b < blocks; b++) {
    const counter = counterOffset + b;
    philox4x32(counter >>> 0, Math.floor(counter / 4294967296) >>> 0, 0, 0, key[0] >>> 0, key[1] >>> 0, block);
    const base = b * 4;
    if (normal) {
      for (let pair = 0; pair < 2; pair++) {
        const u0 = uint32ToUniform(block[pair * 2]);
        const u1 = uint32ToUniform(block[pair * 2 + 1]);
        const r = Math.sqrt(-2 * Math.log(u0));
        const theta = 2 * Math.PI * u1;
        const i = base + pair * 2;
        if (i < length) out[i] = r * Math.cos(theta);
        if (i + 1 < length) out[i + 1] = r * Math.sin(theta);
      }
    } else {
      for (let lane = 0; lane < 4 && base + lane < length; lane++) out[base + lane] = uint32ToUniform(block[lane]);
    }
  }
}
