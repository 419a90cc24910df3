/**
 * exp for the CPU kernels' float32 outputs (exp and sigmoid, forward and backward; SiLU now has its own
 * float32 one in WebAssembly SIMD, silu.ts). V8's Math.exp is a call into a C routine, about 9 ns an
 * element in a SiLU loop on this project's 2-core Xeon, where SiLU was 70% of the quickstart's group
 * norm + SiLU; this one is inlined arithmetic of about 4 ns, in
 * float64: e^v = 2^k * e^r with k = round(v / ln 2), r = v - k ln 2 (|r| <= ln 2 / 2; ln 2 in two parts so
 * that r is exact to about 1e-16), e^r by its Taylor polynomial of degree 8 (truncation error below 3e-10
 * relative, against float32's rounding step of 6e-8: one float32 result in a few thousand lands on the
 * other side of a rounding boundary from Math.exp's), and 2^k from a table.
 */
const LOG2E = 1.4426950408889634;
// ln 2 split so that k * LN2_HI is exact for |k| < 2^11.
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;
/** Adding and subtracting 1.5 * 2^52 rounds a double of magnitude below 2^51 to the nearest integer (ties to even). */
const ROUNDER = 6755399441055744;
/**
 * v is clamped to [MIN_V, MAX_V], so that 2^k stays a normal float64: beyond them e^v is below 4e-308 or
 * above 8e307, which is 0 or Infinity in float32 even after the kernels' sums and quotients
 * (x / (1 + e^-x) for x = -710 is -1e-305 in float64, -0 in float32).
 */
const MIN_V = -708;
const MAX_V = 709;
const K_OFFSET = 1030;
/** POW2[k + K_OFFSET] = 2^k for the k of every v in [MIN_V, MAX_V]. */
const POW2 = Float64Array.from({ length: 2 * K_OFFSET }, (_, i) => 2 ** (i - K_OFFSET));

/** e^v to 3e-10 relative for v in [MIN_V, MAX_V], e^MIN_V below it, e^MAX_V above it, NaN for NaN. */
export function exp(v: number): number {
  const c = v < MIN_V ? MIN_V : v > MAX_V ? MAX_V : v;
  const k = c * LOG2E + ROUNDER - ROUNDER;
  const r = c - k * LN2_HI - k * LN2_LO;
  const r2 = r * r;
  // The polynomial in pairs of terms (Estrin's scheme): shorter dependency chains than Horner's rule.
  const p = 1 + r + r2 * (1 / 2 + r * (1 / 6) + r2 * (1 / 24 + r * (1 / 120)) + r2 * r2 * (1 / 720 + r * (1 / 5040) + r2 * (1 / 40320)));
  return p * POW2[(k | 0) + K_OFFSET];
}
