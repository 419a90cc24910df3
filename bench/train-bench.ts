/**
 * Training and sampling throughput of the paper's CIFAR-10 networks on this project's backends, measured
 * as the PyTorch anchor (../shared/bench/anchor_edm.py) measures it: one EDM-loss step (forward, backward,
 * Adam over all parameters) on random data at a fixed sigma per stage; EDM Heun sampling with 18 steps
 * (35 network evaluations). Prints one JSON line per measurement.
 *
 * Usage: node dist/bench/train-bench.js [ddpmpp|multistage] [--device cuda|cpu] [--math fp32,tf32]
 *        [--batch 128,256] [--stages s0,s1,s2] [--iters 10] [--sample] [--sample-batch 512]
 */
import * as T from '../src/tensor/index.js';
import type { Backend } from '../src/backend/backend.js';
import { cpuBackend } from '../src/backend/cpu/index.js';
import { type CudaBackend, type MathMode, cudaBackend } from '../src/backend/cuda/index.js';
import { NETWORK_PRESETS } from '../src/models/presets.js';
import { networkFromConfig } from '../src/models/factory.js';

const args = process.argv.slice(2);
const flag = (name: string, fallback: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const arch = args[0] && !args[0].startsWith('--') ? args[0] : 'ddpmpp';
const device = flag('device', 'cuda');
const maths = flag('math', 'fp32,tf32').split(',') as MathMode[];
const batches = flag('batch', '128').split(',').map(Number);
const sampleBatch = Number(flag('sample-batch', arch === 'ddpmpp' ? '512' : '256'));
const stageNames = flag('stages', arch === 'ddpmpp' ? 's0' : 's0,s1,s2').split(',');
const iters = Number(flag('iters', '10'));
const sample = args.includes('--sample');
const SIGMA: Record<string, number> = { s0: 0.5, s1: 5, s2: 20 };
const preset = NETWORK_PRESETS[arch === 'ddpmpp' ? 'edm-ddpmpp-cifar10' : 'edm-multistage-cifar10'];

const emit = (rec: Record<string, unknown>) => console.log(JSON.stringify(rec));

function timeIt(backend: Backend, fn: () => void): number {
  backend.synchronize();
  const t = performance.now();
  fn();
  backend.synchronize();
  return (performance.now() - t) / 1000;
}

for (const math of device === 'cpu' ? (['fp32'] as MathMode[]) : maths) {
  const backend: Backend = device === 'cpu' ? cpuBackend() : cudaBackend({ math });
  T.setBackend(backend);
  const gen = new T.Generator(0);
  const net = networkFromConfig(preset, gen);
  const params = net.parameters();
  emit({ arch, device: device === 'cpu' ? 'cpu' : (backend as CudaBackend).device, math, params_M: +(params.reduce((s, p) => s + p.size, 0) / 1e6).toFixed(2) });
  const moments = params.map((p) => [T.keep(T.zeros(p.shape)), T.keep(T.zeros(p.shape))]);
  let step = 0;

  const trainStep = (batch: number, sigma: number): number =>
    T.tidy(() => {
      net.train();
      const y = T.mulScalar(gen.normal([batch, 3, 32, 32]), 0.5);
      const noisy = T.add(y, T.mulScalar(gen.normal([batch, 3, 32, 32]), sigma));
      const d = net.forward(noisy, sigma, { augmentLabels: T.zeros([batch, 9]), generator: gen });
      const weight = (sigma * sigma + 0.25) / (sigma * 0.5) ** 2;
      const loss = T.mulScalar(T.sum(T.square(T.sub(d, y))), weight / batch);
      T.backward(loss);
      step++;
      const adam = { lr: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step };
      // as torch.optim.Adam: parameters without a gradient (decoders of other stages) are not updated
      const live = params.map((p, k) => [p, k] as const).filter(([p]) => p.grad);
      const entries = live.map(([p, k]) => ({ param: p.buffer, grad: p.grad!.buffer, m: moments[k][0].buffer, v: moments[k][1].buffer, length: p.size }));
      if ('adamMany' in backend) (backend as CudaBackend).adamMany(entries, adam);
      else for (const e of entries) backend.adam(e.param, e.grad, e.m, e.v, e.length, adam);
      for (const [p] of live) {
        p.grad!.dispose();
        p.grad = null;
      }
      return loss.size;
    });

  for (const batch of batches) {
    for (const stage of stageNames) {
      const sigma = SIGMA[stage];
      try {
        for (let i = 0; i < 3; i++) trainStep(batch, sigma);
        if ('resetPeakMemory' in backend) (backend as CudaBackend).resetPeakMemory();
        const seconds = timeIt(backend, () => {
          for (let i = 0; i < iters; i++) trainStep(batch, sigma);
        });
        const mem = 'memoryStats' in backend ? (backend as CudaBackend).memoryStats() : null;
        emit({ arch, math, batch, stage, train_img_s: +((batch * iters) / seconds).toFixed(1), peak_MiB: mem ? Math.round(mem.peakBytes / 2 ** 20) : undefined });
      } catch (e) {
        emit({ arch, math, batch, stage, error: (e as Error).message.split('\n')[0] });
      }
    }
  }

  if (sample) {
    // EDM deterministic Heun, 18 steps (35 evaluations), rho 7, sigma from 80 to 0.002
    const batch = sampleBatch;
    const steps = 18;
    const ts = Array.from({ length: steps }, (_, i) => (80 ** (1 / 7) + (i / (steps - 1)) * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7);
    ts.push(0);
    net.eval();
    const run = () =>
      T.noGrad(() =>
        T.tidy(() => {
          let x = T.mulScalar(gen.normal([batch, 3, 32, 32]), ts[0]);
          for (let k = 0; k < steps; k++) {
            const [tc, tn] = [ts[k], ts[k + 1]];
            const next = T.tidy(() => {
              const d = T.mulScalar(T.sub(x, net.forward(x, tc)), 1 / tc);
              let xn = T.add(x, T.mulScalar(d, tn - tc));
              if (k < steps - 1) {
                const d2 = T.mulScalar(T.sub(xn, net.forward(xn, tn)), 1 / tn);
                xn = T.add(x, T.mulScalar(T.add(d, d2), 0.5 * (tn - tc)));
              }
              return xn;
            });
            x.dispose();
            x = next;
          }
          return x.size;
        }),
      );
    try {
      run();
      const seconds = timeIt(backend, run);
      emit({ arch, math, batch, sample_heun35_img_s: +(batch / seconds).toFixed(1) });
    } catch (e) {
      emit({ arch, math, batch, sample_error: (e as Error).message.split('\n')[0] });
    }
  }
  for (const [m, v] of moments) {
    m.dispose();
    v.dispose();
  }
  net.dispose();
}
