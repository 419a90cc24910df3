/**
 * Speed of EDM's augmentation pipeline on the host (src/data/augment.ts), one thread: images/s for
 * CIFAR-10-sized batches at the training probability (about 40% of the images resampled at p = 0.12) and
 * for every image resampled (p = 1). Training on one H200 runs 1,200-1,700 images/s, so the host pipeline
 * must exceed that on one core.
 *
 * Wall and CPU seconds both: on a shared machine the CPU time is the figure that carries over.
 *
 * Usage (after `npx tsc -p .`): node dist/bench/augment.js [--p 0.12] [--batch 256] [--batches 20] [--size 32]
 */
import { parseArgs } from 'node:util';
import { AugmentPipe } from '../src/data/augment.js';
import { Generator } from '../src/tensor/index.js';

const { values: args } = parseArgs({
  options: { p: { type: 'string', default: '0.12' }, batch: { type: 'string', default: '256' }, batches: { type: 'string', default: '20' }, size: { type: 'string', default: '32' } },
});
const p = Number(args.p);
const batch = Number(args.batch);
const batches = Number(args.batches);
const size = Number(args.size);
const shape = [batch, 3, size, size] as const;
const generator = new Generator(0);
const images = Float32Array.from(generator.uniformHost(batch * 3 * size * size), (u) => u * 2 - 1);
const pipe = new AugmentPipe(p);
pipe.augment(images, shape, generator); // warm-up (JIT)
const cpu0 = process.cpuUsage();
const t0 = performance.now();
for (let b = 0; b < batches; b++) pipe.augment(images, shape, generator);
const wall = (performance.now() - t0) / 1000;
const used = process.cpuUsage(cpu0);
const cpu = (used.user + used.system) / 1e6;
const count = batch * batches;
console.log(`augment p=${p} ${size}x${size}: ${count} images in ${wall.toFixed(2)} s wall (${(count / wall).toFixed(0)} images/s), ${cpu.toFixed(2)} s CPU (${(count / cpu).toFixed(0)} images/s per core)`);
