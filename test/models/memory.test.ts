/**
 * Memory of a training step, counted in live bytes through a CPU backend whose alloc and free are wrapped:
 * after the forward pass only what some backward node saved is alive (module forwards free their other
 * temporaries as they return), backward frees each node's saved tensors once that node has run, and a
 * step leaves nothing behind but weights, gradients and optimizer moments.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as T from '../../src/tensor/index.js';
import type { Backend } from '../../src/backend/backend.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { EDMPrecond, SongUNet } from '../../src/models/index.js';
import { Adam } from '../../src/optim/index.js';

interface Meter {
  live: number;
  peak: number;
  /** Bytes ever allocated (frees not subtracted). */
  allocated: number;
}

function countingBackend(inner: Backend, meter: Meter): Backend {
  return {
    ...inner,
    alloc: (dtype, n) => {
      const buf = inner.alloc(dtype, n);
      meter.live += buf.byteLength;
      meter.allocated += buf.byteLength;
      meter.peak = Math.max(meter.peak, meter.live);
      return buf;
    },
    free: (buf) => {
      meter.live -= buf.byteLength;
      inner.free(buf);
    },
  };
}

const bytes = (ts: Iterable<T.Tensor>): number => [...ts].reduce((s, t) => s + t.size * 4, 0);

test('a SongUNet training step keeps only saved activations, frees them during backward and leaks nothing', (t) => {
  const cpu = cpuBackend();
  const meter: Meter = { live: 0, peak: 0, allocated: 0 };
  T.setBackend(countingBackend(cpu, meter));
  try {
    const net = new EDMPrecond(
      new SongUNet({ imgResolution: 16, inChannels: 3, outChannels: 3, modelChannels: 16, channelMult: [1, 2, 2], numBlocks: 2, attnResolutions: [8], dropout: 0.1 }, new T.Generator(1)),
    );
    net.train();
    const optimizer = new Adam(net.namedParameters(), { lr: 1e-4 });
    const generator = new T.Generator(2);
    const n = 8;
    const sigma = Array.from({ length: n }, (_, i) => 0.02 * 1.9 ** i);
    const stateBytes = bytes(net.stateDict().values());
    const paramBytes = bytes(net.parameters());
    const afterSteps: number[] = [];
    for (let step = 0; step < 5; step++) {
      const start = meter.live;
      let forwardAllocated = 0;
      let afterForward = 0;
      let afterBackward = 0;
      meter.peak = meter.live;
      T.tidy(() => {
        const x = generator.normal([n, 3, 16, 16]);
        const noisy = T.add(x, T.mul(generator.normal(x.shape), T.fromArray(sigma, [n, 1, 1, 1])));
        const allocatedBefore = meter.allocated;
        const loss = T.mse(net.forward(noisy, sigma, { generator }), x);
        forwardAllocated = meter.allocated - allocatedBefore;
        afterForward = meter.live;
        T.backward(loss);
        afterBackward = meter.live;
      });
      const grads = net.parameters().map((p) => p.grad!);
      assert.equal(meter.live, start + bytes(grads), `step ${step}: something besides the gradients outlived the step's tidy`);
      const peak = meter.peak - start;
      const saved = afterForward - start;
      t.diagnostic(
        `step ${step}: forward allocated ${forwardAllocated} B, alive after forward ${saved} B, peak ${peak} B, ` +
          `after backward ${afterBackward - start} B (gradients ${bytes(grads)} B)`,
      );
      // The forward's temporaries that no backward needs are freed as the modules return (89% of it stayed alive
      // when every intermediate lived until the step's scope ended).
      assert.ok(saved < 0.65 * forwardAllocated, `step ${step}: ${saved} B of the forward's ${forwardAllocated} B still alive after it`);
      assert.ok(peak < 0.7 * forwardAllocated, `step ${step}: peak ${peak} B over the step, ${forwardAllocated} B allocated by the forward`);
      // Backward frees each node's saved tensors once the node has run: the peak stays below what the forward left plus every gradient.
      assert.ok(peak < saved + bytes(grads), `step ${step}: peak ${peak} B, ${saved} B after the forward and ${bytes(grads)} B of gradients`);
      // After backward only the gradients and the few tensors the step itself holds (input, noise, loss) are left.
      assert.ok(afterBackward - start - bytes(grads) < 0.1 * saved, `step ${step}: ${afterBackward - start - bytes(grads)} B besides the gradients alive after backward`);
      optimizer.step();
      optimizer.zeroGrad();
      afterSteps.push(meter.live);
    }
    // Weights (and constant buffers) plus Adam's two moments per parameter, the same after every step.
    assert.deepEqual(afterSteps, new Array(5).fill(stateBytes + 2 * paramBytes));
    optimizer.dispose();
    net.dispose();
    assert.equal(meter.live, 0, 'bytes alive after disposing the network and the optimizer');
  } finally {
    T.setBackend(cpu);
  }
});
