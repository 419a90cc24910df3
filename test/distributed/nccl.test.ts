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
import { type CudaBackend, cudaBackend, probeCuda } from '../../src/backend/cuda/index.js';
import { type Nccl, NcclError, check, loadNccl, probeNccl, uniqueId } from '../../src/distributed/nccl.js';
import { NcclCommunicator } from '../../src/distributed/nccl-communicator.js';
import { SideStream } from '../../src/distributed/side-stream.js';
import { loadDriver } from '../../src/backend/cuda/driver.js';
import { buf } from '../../src/backend/cuda/operands.js';
import { Trainer } from '../../src/train/trainer.js';
import { tinyMultistageModel } from '../helpers/tiny-model.js';

const cuda = probeCuda();
const nccl = probeNccl();
const skip = !cuda.available ? `no usable CUDA GPU: ${cuda.missing.join('; ')}` : 'missing' in nccl ? `no NCCL: ${nccl.missing}` : false;

function config(runDir: string): Record<string, unknown> {
  return {
    runDir,
    device: 'cuda',
    data: { source: 'shapes', resolution: 8, count: 64 },
    model: tinyMultistageModel(),
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

test("NCCL's stream runs after the kernels queued before it and before those queued after it", { skip: cuda.available ? false : `no usable CUDA GPU: ${cuda.missing.join('; ')}` }, () => {
  // A sum over one rank may cost NCCL nothing, so the ordering is checked with a copy on the side stream:
  // a result 40 queued matrix products away (several milliseconds), copied as soon as it is queued.
  const backend = cudaBackend({ math: 'fp32' }) as CudaBackend;
  T.setBackend(backend);
  const d = loadDriver();
  const side = new SideStream(backend.stream);
  try {
    // J averages each row: a constant matrix times J is the same constant, exactly (powers of two).
    const j = T.mulScalar(T.ones([2048, 2048]), 1 / 2048);
    for (let round = 1; round <= 3; round++) {
      let x = T.mulScalar(T.ones([2048, 2048]), round);
      for (let i = 0; i < 40; i++) x = T.matmul(x, j);
      const copy = T.empty([2048, 2048]);
      side.followMain();
      assert.equal(d.cuMemcpyDtoDAsync(buf(copy.buffer).ptr, buf(x.buffer).ptr, 2048 * 2048 * 4, side.stream), 0);
      side.joinMain();
      const wrong = copy.toFloat32Array().filter((v) => v !== round).length;
      assert.equal(wrong, 0, `round ${round}: the side stream copied the matrix before it was computed, or the main stream read the copy before it was made`);
    }
  } finally {
    side.destroy();
  }
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
