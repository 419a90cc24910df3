/**
 * The real NCCL path on one GPU: a communicator of one rank (the sum over one rank is the identity, so
 * a run through it must train what a run without it trains), NCCL's own error text, and a short training
 * run through the communicator (51 gradient buckets a step, started on NCCL's stream during backward).
 * Skips (with the reason) where there is no GPU or no libnccl.so.2.
 * On the GPU machine: node --test dist/test/distributed/nccl.test.js (scripts/gpu-nccl-check.sh).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../../src/tensor/index.js';
import { cudaBackend, probeCuda } from '../../src/backend/cuda/index.js';
import { type Nccl, NcclError, check, loadNccl, probeNccl, uniqueId } from '../../src/distributed/nccl.js';
import { NcclCommunicator } from '../../src/distributed/nccl-communicator.js';
import { Trainer } from '../../src/train/trainer.js';

const cuda = probeCuda();
const nccl = probeNccl();
const skip = !cuda.available ? `no usable CUDA GPU: ${cuda.missing.join('; ')}` : 'missing' in nccl ? `no NCCL: ${nccl.missing}` : false;

function config(runDir: string): Record<string, unknown> {
  return {
    runDir,
    device: 'cuda',
    data: { source: 'shapes', resolution: 8, count: 64 },
    model: { kind: 'multistage', stageBoundaries: [2.5103, 7.6577], network: { channel_mult: [1, 2], num_blocks: 1, attn_resolutions: [4], en_model_channels: 8, de_model_channels: [8, 8, 4], dropout: 0.1 } },
    training: { totalImages: 48, batchSize: 8, microBatch: 4, lr: 2e-3, lrRampUpImages: 16, adam: { eps: 1 }, gradientBucketMiB: 1 / 256, ema: { halfLifeImages: 16 } },
    output: { logEveryImages: 16, checkpointEveryImages: 48, snapshotEveryImages: 100000, grid: { count: 1, steps: 2 } },
  };
}

async function train(communicator?: NcclCommunicator): Promise<Map<string, Float32Array>> {
  const trainer = await Trainer.create(config(mkdtempSync(join(tmpdir(), 'stagediff-nccl-'))), { communicator });
  await trainer.run();
  return new Map([...trainer.model.net.stateDict()].map(([k, t]) => [k, t.toFloat32Array()]));
}

test("a failed NCCL call's error names the call and carries NCCL's own text (without a GPU: the library's answers stood in)", () => {
  const texts: Record<number, string> = { 5: 'remote process exited or there was a network error' };
  const n = { ncclGetErrorString: (status: number) => texts[status] ?? null, ncclGetLastError: (comm: unknown) => (comm === 'comm' ? 'NET/Socket : peer 10.0.0.2<41522> closed the connection\n' : null) } as unknown as Nccl;
  assert.doesNotThrow(() => check(n, 0, 'ncclAllReduce', 'comm'));
  assert.throws(
    () => check(n, 5, 'ncclAllReduce(1024 float32)', 'comm'),
    (e: unknown) => e instanceof NcclError && e.status === 5 && e.message === 'ncclAllReduce(1024 float32) failed: remote process exited or there was a network error (NET/Socket : peer 10.0.0.2<41522> closed the connection)',
  );
  assert.throws(() => check(n, 99, 'ncclGroupEnd'), /^NcclError: ncclGroupEnd failed: NCCL error 99$/);
});

test('NCCL with one rank: sums are the identity, NCCL errors carry NCCL text, training through it trains the same weights', { skip }, async () => {
  T.setBackend(cudaBackend({ math: 'fp32' }));
  const n = loadNccl();
  console.log(`NCCL ${n.version} at ${n.path} on ${cuda.device}`);
  assert.throws(() => NcclCommunicator.join(uniqueId(n), 3, 1), /ncclCommInitRank\(rank 3 of 1\) failed: invalid argument/);

  const comm = NcclCommunicator.join(uniqueId(n), 0, 1);
  try {
    const values = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i));
    const x = T.fromArray(values, [10, 100]);
    const y = T.cast(T.fromArray(values.subarray(0, 16), [16]), 'bfloat16');
    const yBefore = y.toArray();
    comm.startAllReduceSum([x, y]).wait();
    assert.deepEqual(x.toFloat32Array(), values);
    assert.deepEqual(y.toArray(), yBefore);
    assert.deepEqual(comm.allReduceHostSum(Float64Array.of(1.5, -2, 2 ** 40 + 1)), Float64Array.of(1.5, -2, 2 ** 40 + 1));

    const alone = await train();
    const through = await train(comm);
    let worst = 0;
    for (const [k, w] of alone) w.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - through.get(k)![i]))));
    console.log(`one rank through NCCL vs no communicator: largest weight difference ${worst}`);
    // Identical draws and an identity sum: only a nondeterministic GPU kernel could make them differ.
    assert.ok(worst < 1e-5, `weights differ by ${worst}`);
  } finally {
    comm.close();
  }
});
