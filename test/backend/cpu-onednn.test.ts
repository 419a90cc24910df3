/**
 * The CPU backend's convolutions through oneDNN (onednn-conv.ts) against its WebAssembly kernels (conv.ts),
 * forward and both gradients, over the shapes the models use and the odd ones (stride 2, padding wider
 * than the kernel's reach, a rectangular kernel and image, batches that leave a smaller last chunk, an
 * empty batch). Skipped where libdnnl.so.2 does not load (CI), where the WebAssembly kernels carry every
 * other test. Also: STAGEDIFF_CPU_ONEDNN's values, and `stagediff info` naming the path in use.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Conv2dParams } from '../../src/backend/backend.js';
import { sharedFloat32 } from '../../src/backend/cpu/buffer.js';
import * as conv from '../../src/backend/cpu/conv.js';
import { oneDnn } from '../../src/backend/cpu/onednn.js';
import { imagesPerChunk, oneDnnConv2d, oneDnnConv2dBackwardData, oneDnnConv2dBackwardFilter } from '../../src/backend/cpu/onednn-conv.js';
import { assertClose, randomArray } from '../helpers/gradcheck.js';

const skip = oneDnn() ? false : 'libdnnl.so.2 (oneDNN 2.x) is not on this machine, or STAGEDIFF_CPU_ONEDNN=0';
const cli = fileURLToPath(new URL('../../src/cli/main.js', import.meta.url));

function params(n: number, cIn: number, cOut: number, [h, w]: [number, number], [kh, kw]: [number, number], [padH, padW]: [number, number], stride: number): Conv2dParams {
  return { n, cIn, h, w, cOut, kh, kw, padH, padW, stride, hOut: Math.floor((h + 2 * padH - kh) / stride) + 1, wOut: Math.floor((w + 2 * padW - kw) / stride) + 1 };
}

const cases: { name: string; p: Conv2dParams; bias: boolean }[] = [
  { name: 'the quickstart 3x3, 16 -> 16 at 16x16, batch 16 (two chunks)', p: params(16, 16, 16, [16, 16], [3, 3], [1, 1], 1), bias: true },
  { name: '3x3 from 3 channels (the network input)', p: params(5, 3, 16, [16, 16], [3, 3], [1, 1], 1), bias: true },
  { name: '1x1, 64 -> 32 at 8x8 (a skip connection)', p: params(16, 64, 32, [8, 8], [1, 1], [0, 0], 1), bias: false },
  { name: '3x3 at 4x4 (the lowest level)', p: params(16, 32, 32, [4, 4], [3, 3], [1, 1], 1), bias: true },
  { name: '3x3 stride 2 on an odd size', p: params(3, 16, 8, [17, 17], [3, 3], [1, 1], 2), bias: true },
  { name: '3x3 with padding 2 (the fused-down conv)', p: params(2, 4, 6, [9, 9], [3, 3], [2, 2], 1), bias: false },
  { name: 'rectangular 3x1 kernel on a 7x10 image, padding (1, 0)', p: params(3, 5, 7, [7, 10], [3, 1], [1, 0], 1), bias: true },
  { name: 'batch 19: chunks of 8 + 8 + 3 images', p: params(19, 16, 16, [16, 16], [3, 3], [1, 1], 1), bias: true },
];

for (const { name, p, bias } of cases) {
  test(`oneDNN convolution, ${name}: forward, data and filter gradients match the WebAssembly kernels`, { skip }, () => {
    const xSize = p.n * p.cIn * p.h * p.w;
    const ySize = p.n * p.cOut * p.hOut * p.wOut;
    const wSize = p.cOut * p.cIn * p.kh * p.kw;
    const shared = (a: Float32Array): Float32Array => {
      const s = sharedFloat32(a.length);
      s.set(a);
      return s;
    };
    const [x, w, b, dy] = [randomArray(xSize, 1), randomArray(wSize, 2), randomArray(p.cOut, 3), randomArray(ySize, 4)].map(shared);
    // outputs start as NaN: every element must be written
    const out = (n: number): [Float32Array, Float32Array] => [sharedFloat32(n).fill(NaN), sharedFloat32(n).fill(NaN)];
    const [y, yRef] = out(ySize);
    const [dx, dxRef] = out(xSize);
    const [dw, dwRef] = out(wSize);
    oneDnnConv2d(x, w, bias ? b : null, y, p);
    conv.conv2d(x, w, bias ? b : null, yRef, p);
    oneDnnConv2dBackwardData(dy, w, dx, p);
    conv.conv2dBackwardData(dy, w, dxRef, p);
    oneDnnConv2dBackwardFilter(x, dy, dw, p);
    conv.conv2dBackwardFilter(x, dy, dwRef, p);
    // Two float32 sums of up to 4,096 products each (the filter gradient at 16x16, batch 16), in different
    // orders: about 1e-6 apart; the WebAssembly kernels are themselves checked against float64.
    assertClose(y, yRef, 1e-5, 'forward');
    assertClose(dx, dxRef, 1e-5, 'data gradient');
    assertClose(dw, dwRef, 1e-5, 'filter gradient');
  });
}

test('oneDNN convolution chunks depend on the shape alone, and an empty batch gives a zero filter gradient', { skip }, () => {
  const p = params(16, 16, 16, [16, 16], [3, 3], [1, 1], 1);
  assert.equal(imagesPerChunk(p), 8);
  assert.equal(imagesPerChunk(params(16, 32, 32, [4, 4], [3, 3], [1, 1], 1)), 16);
  const empty = { ...p, n: 0 };
  const dw = sharedFloat32(16 * 16 * 9).fill(NaN);
  oneDnnConv2dBackwardFilter(sharedFloat32(0), sharedFloat32(0), dw, empty);
  assert.ok(dw.every((v) => v === 0));
});

function info(value: string): ReturnType<typeof spawnSync> {
  return spawnSync(process.execPath, [cli, 'info'], { env: { ...process.env, STAGEDIFF_CPU_ONEDNN: value }, encoding: 'utf8' });
}

test('STAGEDIFF_CPU_ONEDNN=0 turns oneDNN off, and `stagediff info` says which convolutions the CPU backend uses', () => {
  const off = info('0');
  assert.equal(off.status, 0, String(off.stderr));
  assert.match(String(off.stdout), /cpu convolutions: WebAssembly SIMD \(oneDNN not used: turned off by STAGEDIFF_CPU_ONEDNN=0\)/);
  const on = info('1');
  assert.equal(on.status, 0, String(on.stderr));
  // (this process may itself run with STAGEDIFF_CPU_ONEDNN=0: then only "not turned off" is known)
  assert.match(String(on.stdout), oneDnn() ? /cpu convolutions: oneDNN 2\.\d+\.\d+/ : /cpu convolutions: (oneDNN 2\.|WebAssembly SIMD \(oneDNN not used: (?!turned off))/);
});

test('a bad STAGEDIFF_CPU_ONEDNN value is refused with what it may be', () => {
  const bad = info('yes');
  assert.notEqual(bad.status, 0);
  assert.match(String(bad.stderr), /STAGEDIFF_CPU_ONEDNN must be 0 \(WebAssembly kernels only\) or 1 \(oneDNN where found\), got "yes"/);
});
