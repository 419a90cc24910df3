/**
 * The quickstart network's convolution shapes through oneDNN (when libdnnl.so.2 loads) against the
 * WebAssembly kernels: microseconds per call (wall and CPU time of this process, median of --reps
 * batches), forward / data gradient / filter gradient, at 1 and 2 threads, the implementation oneDNN chose,
 * whether its outputs are bit-identical at 1 and 2 threads, and the largest difference from the
 * WebAssembly kernels' outputs.
 *
 * Usage: node dist/bench/onednn-conv.js [--reps 200] [--batch 16]
 */
import { parseArgs } from 'node:util';
import type { Conv2dParams } from '../src/backend/backend.js';
import { sharedFloat32 } from '../src/backend/cpu/buffer.js';
import * as conv from '../src/backend/cpu/conv.js';
import { setCpuThreadCount } from '../src/backend/cpu/index.js';
import { oneDnn, oneDnnStatus } from '../src/backend/cpu/onednn.js';
import { convPlans, imagesPerChunk, oneDnnConv2d, oneDnnConv2dBackwardData, oneDnnConv2dBackwardFilter } from '../src/backend/cpu/onednn-conv.js';

const { values: args } = parseArgs({ options: { reps: { type: 'string', default: '200' }, batch: { type: 'string', default: '16' } } });
const reps = Number(args.reps);
const n = Number(args.batch);

const shapes: [number, number, number, number][] = [
  // cIn, cOut, size, kernel: the quickstart U-Net's kinds of convolution
  [3, 16, 16, 3],
  [16, 16, 16, 3],
  [32, 16, 16, 1],
  [32, 32, 8, 3],
  [32, 32, 4, 3],
  [64, 32, 8, 1],
];

function random(length: number, seed: number): Float32Array {
  const a = sharedFloat32(length);
  let s = seed;
  for (let i = 0; i < length; i++) {
    s = (s * 1103515245 + 12345) >>> 0;
    a[i] = s / 2 ** 32 - 0.5;
  }
  return a;
}

/** Microseconds per call, wall and CPU (all threads of this process), the median of 5 batches. */
function time(f: () => void): { wall: number; cpu: number } {
  for (let i = 0; i < 10; i++) f();
  const walls: number[] = [];
  const cpus: number[] = [];
  const batch = Math.max(1, Math.floor(reps / 5));
  for (let b = 0; b < 5; b++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    for (let i = 0; i < batch; i++) f();
    walls.push(((performance.now() - t0) * 1e3) / batch);
    const c = process.cpuUsage(c0);
    cpus.push((c.user + c.system) / batch);
  }
  const median = (v: number[]) => v.sort((a, b) => a - b)[2];
  return { wall: median(walls), cpu: median(cpus) };
}

const maxDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
const sameBits = (a: Float32Array, b: Float32Array): boolean => a.every((v, i) => Object.is(v, b[i]));
const fmt = (t: { wall: number; cpu: number }) => `${t.wall.toFixed(0)} (${t.cpu.toFixed(0)})`;

function main(): void {
  console.log(`convolutions: ${oneDnnStatus()}`);
  const lib = oneDnn();
  if (!lib) return;
  console.log(`batch ${n}; microseconds per call, wall (CPU of all threads), forward / data gradient / filter gradient`);
  for (const [cIn, cOut, size, k] of shapes) {
    const pad = (k - 1) / 2;
    const p: Conv2dParams = { n, cIn, h: size, w: size, cOut, kh: k, kw: k, padH: pad, padW: pad, stride: 1, hOut: size, wOut: size };
    const [x, w, bias, dy] = [random(n * cIn * size * size, 1), random(cOut * cIn * k * k, 2), random(cOut, 3), random(n * cOut * size * size, 4)];
    const plans = convPlans(lib, { ...p, n: imagesPerChunk(p) });
    const outputs = (): Float32Array[] => [sharedFloat32(dy.length), sharedFloat32(x.length), sharedFloat32(w.length)];
    const byThreads: Float32Array[][] = [];
    const simd = outputs();
    const rows: string[] = [];
    for (const threads of [1, 2]) {
      setCpuThreadCount(threads);
      const [y, dx, dw] = outputs();
      const dnn = [
        time(() => oneDnnConv2d(x, w, bias, y, p)),
        time(() => oneDnnConv2dBackwardData(dy, w, dx, p)),
        time(() => oneDnnConv2dBackwardFilter(x, dy, dw, p)),
      ];
      byThreads.push([y, dx, dw]);
      const ours = [time(() => conv.conv2d(x, w, bias, simd[0], p)), time(() => conv.conv2dBackwardData(dy, w, simd[1], p)), time(() => conv.conv2dBackwardFilter(x, dy, simd[2], p))];
      rows.push(`  ${threads} thread(s): oneDNN ${dnn.map(fmt).join(' / ')}; WebAssembly ${ours.map(fmt).join(' / ')}`);
    }
    const identical = byThreads[0].map((a, i) => sameBits(a, byThreads[1][i]));
    const diffs = byThreads[0].map((a, i) => maxDiff(a, simd[i]).toExponential(1));
    console.log(`${cIn} -> ${cOut} channels, ${size}x${size}, ${k}x${k}, ${imagesPerChunk(p)} images a chunk (${lib.implementation(plans.forward.pd)} / ${lib.implementation(plans.backwardData.pd)} / ${lib.implementation(plans.backwardWeights.pd)})`);
    for (const r of rows) console.log(r);
    console.log(`  oneDNN bit-identical at 1 and 2 threads: ${identical.join(' / ')}; largest difference from WebAssembly: ${diffs.join(' / ')}`);
  }
}

main();
process.exit(0);
