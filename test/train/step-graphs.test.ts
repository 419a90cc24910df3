/**
 * Training steps from CUDA graphs (train/step-graphs.ts). On the CPU: the per-sample tensors a captured
 * step reads are made again, from any step's sigma, by the recipes traced at capture (models/noise-levels.ts),
 * bit for bit as the eager step makes them; values not made from sigma have no recipe; with CUDA graph
 * semantics emulated on the CPU (helpers/graph-emulator.ts), training with step graphs gives the eager
 * weights bit for bit (EDM and VP, augmented images, one or two micro-batches a step), and a failed
 * capture or check falls back with one warning. On a GPU (skipped without one): the same with real graphs,
 * within 1e-5.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { type CudaBackend, cudaBackend, probeCuda } from '../../src/backend/cuda/index.js';
import type { Backend } from '../../src/backend/backend.js';
import { perSample } from '../../src/models/preconditioning.js';
import { withPerSampleInputs } from '../../src/models/noise-levels.js';
import { presetConfig, resolveTrainConfig, type TrainConfig } from '../../src/train/config.js';
import { type MicroBatch, type TrainingParts, buildTrainingParts, stepSchedule, trainStep } from '../../src/train/train-step.js';
import { partitionFromConfig } from '../../src/train/diffusion-model.js';
import { StepGraphs, stepGraphsFor } from '../../src/train/step-graphs.js';
import { PAPER_CIFAR10_BOUNDARIES } from '../../src/stages/stage-partition.js';
import { AUGMENT_LABEL_DIM, AugmentPipe } from '../../src/data/augment.js';
import { StageSampler } from '../../src/train/stage-sampling.js';
import { numel } from '../../src/base/shape.js';
import { relError } from '../helpers/gradcheck.js';
import { emulateGraphs } from '../helpers/graph-emulator.js';

const probe = probeCuda();
const skip = probe.available ? false : `no usable CUDA GPU: ${probe.missing.join('; ')}`;
const B = 16;

function quickstart(overrides: Record<string, unknown> = {}): TrainConfig {
  return resolveTrainConfig({ ...presetConfig('quickstart'), ...overrides });
}

function parts(config: TrainConfig): TrainingParts {
  const p = buildTrainingParts(config, [3, 16, 16], partitionFromConfig(config.model, config.formulation), new T.Generator(0));
  p.model.net.train(true);
  return p;
}

/**
 * The micro-batch of `size` images numbered `k`: noise levels drawn from `generator` as the trainer draws
 * them with the config's stage sampling (`balanced` sorts a batch by stage, `uniform` draws one stage),
 * host images, augmented by EDM's pipe when the network takes augmentation labels.
 */
function microBatch(k: number, size: number, generator: T.Generator, backend: Backend, p: TrainingParts, config: TrainConfig): MicroBatch {
  const { partition } = p.model;
  const sampler = new StageSampler(config.training.stageSampling, partition, p.model.noiseDistribution(), partition.numStages > 1 ? (config.training.stageShares ?? undefined) : undefined);
  const { sigma, weight } = sampler.draw(size, (n) => generator.uniformHost(n));
  const shape = [size, 3, 16, 16] as const;
  const pixels = Float32Array.from(new T.Generator(100 + k).uniformHost(numel(shape)), (v) => 2 * v - 1);
  if (p.model.augmentDim === 0) return { sigma, weight, images: () => T.fromArray(pixels, shape, 'float32', backend) };
  const augmented = new AugmentPipe(0.5).augment(pixels, shape, new T.Generator(200 + k));
  return {
    sigma,
    weight,
    images: () => T.fromArray(augmented.images, shape, 'float32', backend),
    augmentLabels: () => T.fromArray(augmented.labels, [size, AUGMENT_LABEL_DIM], 'float32', backend),
  };
}

/** The per-sample losses of one step's loss on the CPU, its per-sample tensors made by `make`. */
function lossWith(p: TrainingParts, micro: MicroBatch, make: ((shape: readonly number[], backend: Backend, recipe: ((s: Float64Array) => Float32Array) | null) => T.Tensor) | null): Float32Array {
  return T.tidy(() => {
    const x0 = micro.images();
    const eps = new T.Generator(7).normal(x0.shape);
    const run = () => p.model.loss(x0, micro.sigma, eps, new T.Generator(8));
    return (make ? withPerSampleInputs(micro.sigma, make, run) : run()).toFloat32Array();
  });
}

test('the recipes traced from one step make the per-sample tensors of another step as the eager step does', () => {
  T.setBackend(cpuBackend());
  const config = quickstart();
  const p = parts(config);
  const [a, b] = [1, 2].map((k) => microBatch(k, B, new T.Generator(k), cpuBackend(), p, config));
  const recipes: ((s: Float64Array) => Float32Array)[] = [];
  lossWith(p, a, (shape, backend, recipe) => {
    assert.ok(recipe, 'every per-sample tensor of the EDM loss is made from sigma');
    recipes.push(recipe);
    return T.fromArray(recipe(a.sigma), shape, 'float32', backend);
  });
  assert.ok(recipes.length >= 6, `${recipes.length} per-sample tensors traced`);
  // step b's tensors from step a's recipes, in the order the step makes them
  let i = 0;
  const replayed = lossWith(p, b, (shape, backend) => T.fromArray(recipes[i++](b.sigma), shape, 'float32', backend));
  assert.equal(i, recipes.length);
  assert.deepEqual(Array.from(replayed), Array.from(lossWith(p, b, null)));
  assert.notDeepEqual(Array.from(replayed), Array.from(lossWith(p, a, null)));
});

test('per-sample values not made from the step\'s sigma have no recipe', () => {
  T.setBackend(cpuBackend());
  const sigma = Float64Array.of(0.5, 1, 2);
  const seen: boolean[] = [];
  withPerSampleInputs(sigma, (shape, backend, recipe) => {
    seen.push(recipe !== null);
    return T.zeros(shape, 'float32', backend);
  }, () => T.tidy(() => {
    perSample(sigma, 4);
    perSample(Array.from(sigma, Math.exp), 4);
  }));
  assert.deepEqual(seen, [true, false]);
});

test('training.cudaGraphs on the CPU: off and auto say nothing, on says once that it needs the GPU', () => {
  T.setBackend(cpuBackend());
  const p = parts(quickstart());
  for (const [mode, said] of [['off', 0], ['auto', 0], ['on', 1]] as const) {
    const warnings: string[] = [];
    assert.equal(stepGraphsFor(mode, p, (w) => warnings.push(w)), null);
    assert.equal(warnings.length, said, mode);
  }
});

interface TrainingRun {
  /** Makes the step graphs (none: eager). */
  graphs?: (warn: (w: string) => void) => StepGraphs;
  /** Changes the model before training. */
  adjust?: (p: TrainingParts) => void;
  /** Micro-batches per step of B images (1 unless given). */
  microBatches?: number;
}

/** The weights after `steps` training steps on `backend` (same seeds, same batches). */
function trainedWeights(backend: Backend, config: TrainConfig, steps: number, { graphs, adjust, microBatches = 1 }: TrainingRun = {}): { weights: Float32Array[]; losses: number[]; warnings: string[]; offset: number } {
  T.setBackend(backend);
  const p = parts(config);
  adjust?.(p);
  const warnings: string[] = [];
  const stepGraphs = graphs?.((w) => warnings.push(w));
  const generator = new T.Generator(42);
  const losses: number[] = [];
  try {
    for (let k = 1; k <= steps; k++) {
      const schedule = stepSchedule(config, k * B, k);
      // drawn as the trainer draws them: each right before it runs, from the generator of the step's noise
      const next = (m: number) => microBatch(k * microBatches + m, B / microBatches, generator, backend, p, config);
      const r = trainStep(p, generator, { batchSize: B, microBatches, gradClip: config.training.gradClip, graphs: stepGraphs, ...schedule }, next);
      losses.push(r.loss);
    }
    return { weights: [...p.model.net.parameters(), ...p.ema.net.parameters()].map((t) => t.toFloat32Array()), losses, warnings, offset: generator.state().offset };
  } finally {
    stepGraphs?.dispose();
    p.optimizer.dispose();
    for (const t of [...p.model.net.parameters(), ...p.ema.net.parameters()]) t.dispose();
  }
}

const CONFIGS = [
  ['the quickstart network on balanced stage-sorted batches', quickstart()],
  ['a unified network with dropout and clipping', quickstart({ model: { kind: 'unified', network: { augment_dim: 0, dropout: 0.1, channel_mult: [1, 1], num_blocks: 1, attn_resolutions: [8], model_channels: 16 } }, training: { ...quickstart().training, gradClip: 1 } })],
  ['the quickstart network on images augmented by EDM\'s pipe', quickstart({ model: { ...quickstart().model, network: { ...quickstart().model.network, augment_dim: AUGMENT_LABEL_DIM } } })],
  ['a VP multistage network (the paper\'s VP t boundaries) on balanced stage-sorted batches', quickstart({ model: { ...quickstart().model, stageBoundaries: [...PAPER_CIFAR10_BOUNDARIES.vpT], stageUnits: 'vp-t' }, formulation: { kind: 'vp' } })],
  ['the quickstart network channels last (training.channelsLast)', quickstart({ training: { ...quickstart().training, channelsLast: true } })],
] as const;

const bits = (w: Float32Array[]) => w.map((a) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64'));

test('steps replayed from graphs (emulated on the CPU) train the weights eager steps train, bit for bit', () => {
  for (const [name, config] of CONFIGS) {
    const eager = trainedWeights(cpuBackend(), config, 4);
    const em = emulateGraphs(cpuBackend());
    const graphed = trainedWeights(em.backend, config, 4, { graphs: (warn) => new StepGraphs(em.backend as unknown as CudaBackend, 'on', warn) });
    assert.deepEqual(graphed.warnings, [], name);
    // step 1 eager (warm-up), step 2 captured, replayed and checked, step 3 replayed and checked, step 4 replayed
    assert.equal(em.replays(), 3, name);
    assert.equal(graphed.offset, eager.offset, `${name}: the random stream moved as the eager steps moved it`);
    assert.deepEqual(graphed.losses, eager.losses, name);
    assert.deepEqual(bits(graphed.weights), bits(eager.weights), `${name}: weights and EMA`);
  }
});

test('steps of two micro-batches replayed from graphs (emulated on the CPU) train the weights eager steps train, bit for bit', () => {
  for (const [name, config] of CONFIGS) {
    const eager = trainedWeights(cpuBackend(), config, 5, { microBatches: 2 });
    const em = emulateGraphs(cpuBackend());
    const graphed = trainedWeights(em.backend, config, 5, { microBatches: 2, graphs: (warn) => new StepGraphs(em.backend as unknown as CudaBackend, 'on', warn) });
    assert.deepEqual(graphed.warnings, [], name);
    // the first micro-batch's graph (writing the gradients) is captured at step 2, the second's (adding to
    // them) at step 3, after a step where it ran eagerly on the first's gradients
    assert.equal(em.replays(), 1 + 2 + 2 + 2, name);
    assert.equal(graphed.offset, eager.offset, `${name}: the random stream moved as the eager steps moved it`);
    assert.deepEqual(graphed.losses, eager.losses, name);
    assert.deepEqual(bits(graphed.weights), bits(eager.weights), `${name}: weights and EMA`);
  }
});

test('VP steps of one stage each (the VP presets\' `uniform` stage sampling) replay from one graph per stage, bit for bit as eager steps', () => {
  const config = quickstart({ model: CONFIGS[3][1].model, formulation: { kind: 'vp' }, training: { ...quickstart().training, stageSampling: 'uniform' } });
  const eager = trainedWeights(cpuBackend(), config, 10);
  const em = emulateGraphs(cpuBackend());
  const graphed = trainedWeights(em.backend, config, 10, { graphs: (warn) => new StepGraphs(em.backend as unknown as CudaBackend, 'on', warn) });
  assert.deepEqual(graphed.warnings, []);
  // the 10 steps draw each of the 3 stages; a stage's first step runs eagerly, every other one replays
  assert.equal(em.replays(), 10 - 3);
  assert.equal(graphed.offset, eager.offset);
  assert.deepEqual(graphed.losses, eager.losses);
  assert.deepEqual(bits(graphed.weights), bits(eager.weights));
});

test('a replay of a second micro-batch that differs from the eager one turns graphs off with one warning, the step\'s gradients as before it; training is unchanged', () => {
  const config = CONFIGS[0][1];
  const eager = trainedWeights(cpuBackend(), config, 5, { microBatches: 2 });
  const em = emulateGraphs(cpuBackend());
  // the first micro-batch's graph replays right at steps 2 and 3, the second's wrongly at step 3
  em.sabotage('replay', 2);
  const graphed = trainedWeights(em.backend, config, 5, { microBatches: 2, graphs: (warn) => new StepGraphs(em.backend as unknown as CudaBackend, 'auto', warn) });
  assert.equal(graphed.warnings.length, 1);
  assert.match(graphed.warnings[0], /differs from the eager step/);
  assert.equal(em.replays(), 3);
  assert.equal(graphed.offset, eager.offset);
  assert.deepEqual(bits(graphed.weights), bits(eager.weights));
});

test('a failed capture or a first replay that differs from the eager step turns graphs off with one warning; training is unchanged', () => {
  const config = CONFIGS[0][1];
  const eager = trainedWeights(cpuBackend(), config, 4);
  for (const [what, said] of [['capture', 'could not be captured'], ['replay', 'differs from the eager step']] as const) {
    const em = emulateGraphs(cpuBackend());
    em.sabotage(what);
    const graphed = trainedWeights(em.backend, config, 4, { graphs: (warn) => new StepGraphs(em.backend as unknown as CudaBackend, 'auto', warn) });
    assert.equal(graphed.warnings.length, 1, what);
    assert.match(graphed.warnings[0], new RegExp(said));
    assert.equal(em.replays(), what === 'replay' ? 1 : 0);
    assert.equal(graphed.offset, eager.offset);
    assert.deepEqual(bits(graphed.weights), bits(eager.weights), what);
  }
});

test('where two eager runs of a step differ (kernels that sum in a varying order), a replay within their spread is kept and a wrong one is still caught', () => {
  const config = CONFIGS[0][1];
  const graphs = (em: ReturnType<typeof emulateGraphs>) => (warn: (w: string) => void) => new StepGraphs(em.backend as unknown as CudaBackend, 'auto', warn);
  const noisy = emulateGraphs(cpuBackend());
  noisy.jitter(1e-3); // relative L2 of the gradients between two eager runs well above the fixed 1e-5
  const kept = trainedWeights(noisy.backend, config, 4, { graphs: graphs(noisy) });
  assert.deepEqual(kept.warnings, []);
  assert.equal(noisy.replays(), 3);
  const wrong = emulateGraphs(cpuBackend());
  wrong.jitter(1e-3);
  wrong.sabotage('replay');
  const caught = trainedWeights(wrong.backend, config, 4, { graphs: graphs(wrong) });
  assert.equal(caught.warnings.length, 1);
  assert.match(caught.warnings[0], /differs from the eager step \(relative L2 [^;]+; two eager runs differ by [1-9]/);
});

test('a per-sample value uploaded while capturing (not made through perSampleValues) is caught at the second replay; training is unchanged', () => {
  const config = CONFIGS[0][1];
  // each sample's loss scaled by its sigma, uploaded as the capture's step has it
  const adjust = (p: TrainingParts): void => {
    const loss = p.model.loss.bind(p.model);
    p.model.loss = (x0, sigma, ...rest) => T.mul(loss(x0, sigma, ...rest), T.fromArray(Float32Array.from(sigma), [sigma.length], 'float32', x0.backend));
  };
  const eager = trainedWeights(cpuBackend(), config, 4, { adjust });
  const em = emulateGraphs(cpuBackend());
  const graphed = trainedWeights(em.backend, config, 4, { adjust, graphs: (warn) => new StepGraphs(em.backend as unknown as CudaBackend, 'auto', warn) });
  assert.equal(graphed.warnings.length, 1);
  assert.match(graphed.warnings[0], /differs from the eager step/);
  // the capture's step replayed and checked, step 3 replayed and found wrong, run eagerly, as step 4
  assert.equal(em.replays(), 2);
  assert.equal(graphed.offset, eager.offset);
  assert.deepEqual(bits(graphed.weights), bits(eager.weights));
});

for (const [name, config] of CONFIGS) {
  for (const microBatches of [1, 2]) {
    // one micro-batch: step 1 eager (warm-up), step 2 captured and replayed, steps 2-3 checked; two: the
    // second micro-batch's graph a step later
    const steps = 3 + microBatches;
    test(`training with CUDA graphs gives the weights training without them gives: ${name}, ${microBatches} micro-batch(es) a step`, { skip }, () => {
      const gpu = cudaBackend({ math: 'fp32' });
      const eager = trainedWeights(gpu, config, steps, { microBatches });
      // cuDNN's kernels may sum in a varying order: two eager runs set the spread the graphs may show
      const again = trainedWeights(gpu, config, steps, { microBatches });
      const graphed = trainedWeights(gpu, config, steps, { microBatches, graphs: (warn) => new StepGraphs(gpu, 'on', warn) });
      assert.deepEqual(graphed.warnings, [], 'no step fell back');
      assert.equal(graphed.offset, eager.offset, 'the random stream moved as the eager steps moved it');
      const distance = (run: typeof eager) => Math.max(...run.weights.map((w, i) => relError(w, eager.weights[i])));
      const [worst, spread] = [distance(graphed), distance(again)];
      console.log(`  ${name}, ${microBatches} micro-batch(es): losses ${graphed.losses.map((l) => l.toPrecision(6)).join(', ')} (eager ${eager.losses.map((l) => l.toPrecision(6)).join(', ')}); weights and EMA within rel L2 ${worst.toExponential(2)} (two eager runs: ${spread.toExponential(2)})`);
      const allowed = Math.max(1e-5, 4 * spread);
      graphed.losses.forEach((l, i) => assert.ok(Math.abs(l - eager.losses[i]) <= allowed * Math.abs(eager.losses[i]), `loss of step ${i + 1}`));
      assert.ok(worst <= allowed, `weights after ${steps} steps: rel L2 ${worst}, two eager runs ${spread}`);
    });
  }
}
