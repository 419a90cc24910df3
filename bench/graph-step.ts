/**
 * What a CUDA graph saves on the quickstart model: the forward and backward of one training batch (the
 * trainer's loss on a balanced, stage-sorted batch: per-sample routing by slices), queued eagerly against
 * replayed from a graph captured once, each followed by one wait for the losses and then the optimizer
 * and the EMA queued eagerly (a few launches), as a training step does. Prints milliseconds per step and
 * images per second of each, and how far the replayed losses and gradients are from eager ones at the same
 * random-stream position. The batch is the same every step (training writes each step's images and
 * per-sample coefficients into the graph's inputs, train/step-graphs.ts), which changes no timing; the
 * trainer itself is timed by `stagediff train ... --set training.cudaGraphs=on` (bench/gpu-run.sh graphs).
 *
 * Usage (GPU machine, after building): node dist/bench/graph-step.js [--batch 16] [--iters 200] [--precision fp32|tf32|bf16]
 */
import { parseArgs } from 'node:util';
import * as T from '../src/tensor/index.js';
import type { CudaBackend } from '../src/backend/cuda/index.js';
import { isPrecision, useDevice } from '../src/runtime/device.js';
import { presetConfig, resolveTrainConfig } from '../src/train/config.js';
import { buildTrainingParts } from '../src/train/train-step.js';
import { emaUpdate } from '../src/train/ema.js';
import { relativeL2 } from '../src/util/relative-l2.js';
import { partitionFromConfig } from '../src/train/diffusion-model.js';

const { values: args } = parseArgs({ options: { batch: { type: 'string', default: '16' }, iters: { type: 'string', default: '200' }, precision: { type: 'string', default: 'fp32' } } });

async function main(): Promise<void> {
  const precision = args.precision!;
  if (!isPrecision(precision)) throw new Error(`--precision: fp32, tf32 or bf16, got ${precision}`);
  const batch = Number(args.batch);
  const iters = Number(args.iters);
  if (!(Number.isInteger(batch) && batch >= 3 && Number.isInteger(iters) && iters >= 1)) throw new Error('--batch (at least 3) and --iters take positive integers');
  await useDevice('cuda', precision);
  const gpu = T.getBackend() as CudaBackend;
  const config = resolveTrainConfig(presetConfig('quickstart'));
  const gen = new T.Generator(0);
  const { model, ema, optimizer } = buildTrainingParts(config, [3, 16, 16], partitionFromConfig(config.model, config.formulation), gen);
  const emaParams = ema.net.parameters();
  model.net.train(true);
  const params = model.net.parameters();
  // a balanced batch sorted by stage, as balanced stage sampling draws it: half low noise, then the rest
  const sigma = Float64Array.from({ length: batch }, (_, i) => (i < batch / 2 ? 0.4 : i < (batch * 5) / 6 ? 4 : 30));
  const x0 = T.keep(T.mulScalar(gen.normal([batch, 3, 16, 16]), 0.5));
  const weights = Float32Array.from({ length: batch }, () => 1 / batch);
  const lossBatch = (g: T.Generator): T.Tensor =>
    T.tidy(() => {
      const losses = model.loss(x0, sigma, g.normal(x0.shape), g);
      T.backward(T.sum(T.mul(losses, T.fromArray(weights, [batch]))));
      return T.detach(losses);
    });
  const optimizerAndEma = (): void => {
    optimizer.step();
    emaUpdate(emaParams, params, 0.999);
  };
  const clearGrads = (): void => {
    for (const p of params) {
      p.grad?.dispose();
      p.grad = null;
    }
  };
  const gradients = (): Float32Array[] => params.map((p) => p.grad!.toFloat32Array());

  // eager, after a warm-up that finds the convolution algorithms and compiles the kernels
  const eagerRun = (counter: number): T.Tensor => lossBatch(T.Generator.fromState({ seed: 0, offset: counter }));
  for (let i = 0; i < 3; i++) {
    eagerRun(1000).dispose();
    clearGrads();
  }
  let start = performance.now();
  for (let i = 0; i < iters; i++) {
    const losses = eagerRun(1000 + i);
    losses.toFloat32Array();
    losses.dispose();
    optimizerAndEma();
    clearGrads();
  }
  gpu.synchronize();
  const eagerMs = (performance.now() - start) / iters;

  // the reference at the weights the graph will first run with (a capture runs nothing)
  const reference = eagerRun(1000);
  const referenceLosses = reference.toFloat32Array();
  const referenceGrads = gradients();
  reference.dispose();
  clearGrads();
  const capturing = T.Generator.fromState({ seed: 0, offset: 1000 });
  let losses: T.Tensor | null = null;
  const captureStart = performance.now();
  // the gradients it makes are the graph's outputs: every replay writes them again
  const graph = gpu.captureGraph(() => void (losses = lossBatch(capturing)), { key: capturing.take(0).key, counter: 1000 });
  const captureMs = performance.now() - captureStart;
  graph.replay(1000);
  const lossError = relativeL2(losses!.toFloat32Array(), referenceLosses);
  const grads = gradients();
  const gradError = Math.max(...grads.map((g, i) => relativeL2(g, referenceGrads[i])));
  start = performance.now();
  for (let i = 0; i < iters; i++) {
    graph.replay(1000 + i);
    losses!.toFloat32Array();
    optimizerAndEma();
  }
  gpu.synchronize();
  const replayMs = (performance.now() - start) / iters;
  const row = {
    bench: 'quickstart training step: forward+backward eager or replayed, optimizer and EMA eager',
    device: gpu.device,
    precision,
    batch,
    eagerMs: +eagerMs.toFixed(3),
    replayMs: +replayMs.toFixed(3),
    eagerImagesPerSecond: Math.round((batch * 1000) / eagerMs),
    replayImagesPerSecond: Math.round((batch * 1000) / replayMs),
    captureMs: +captureMs.toFixed(1),
    graphMiB: +(graph.bytes / 2 ** 20).toFixed(1),
    lossRelL2: lossError,
    maxGradRelL2: gradError,
  };
  console.log(JSON.stringify(row));
  losses!.dispose();
  clearGrads();
  graph.dispose();
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
