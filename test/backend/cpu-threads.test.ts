/**
 * The CPU backend's worker pool: every kernel that splits over threads gives bit-identical results on one
 * thread and on several (the pool is resized in this process with setCpuThreadCount), with the workers
 * seen to take part; a chunk's error reaches the caller; STAGEDIFF_CPU_THREADS sets the count; a process
 * that used the pool exits on its own.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Backend, Conv2dParams, DeviceBuffer, MatmulParams } from '../../src/backend/backend.js';
import { cpuBackend, cpuPoolStats, setCpuThreadCount } from '../../src/backend/cpu/index.js';
import { oneDnn } from '../../src/backend/cpu/onednn.js';
import { parallelFor, parallelTask, setMinParallelWork } from '../../src/backend/cpu/pool.js';
import { randomArray } from '../helpers/gradcheck.js';

const be: Backend = cpuBackend();
const THREADS = 3;
// The shapes below split from 2^16 (pool units) on, below where the backend splits by itself (2^21): small
// shapes keep the tests quick, and what is tested (the same bits however the work is split) is the same.
setMinParallelWork(1 << 16);

/** A kernel call: buffers of the given sizes, filled with seeded random values (outputs too, so beta = 1 and stale contents are covered), and what it reads back. */
interface Case {
  name: string;
  sizes: number[];
  run(bufs: DeviceBuffer[]): void;
  /** Indices of the buffers that hold results. */
  outputs: number[];
}

function runCase(c: Case): Float32Array[] {
  const bufs = c.sizes.map((n, i) => {
    const b = be.alloc('float32', n);
    be.upload(b, randomArray(n, 100 + i));
    return b;
  });
  c.run(bufs);
  return c.outputs.map((i) => be.download(bufs[i], 'float32', c.sizes[i]) as Float32Array);
}

function assertBitIdentical(actual: Float32Array, expected: Float32Array, what: string): void {
  const a = new Uint32Array(actual.buffer, actual.byteOffset, actual.length);
  const e = new Uint32Array(expected.buffer, expected.byteOffset, expected.length);
  assert.equal(a.length, e.length, `${what}: length`);
  const at = a.findIndex((bits, i) => bits !== e[i]);
  assert.equal(at, -1, `${what}: element ${at} is ${actual[at]} with ${THREADS} threads, ${expected[at]} with one`);
}

/**
 * Runs the case on one thread, then on THREADS until a worker has run part of it (a worker that is still
 * starting or not yet scheduled leaves every chunk to the calling thread), checking every run bit for bit.
 */
async function checkThreadCountsAgree(c: Case): Promise<void> {
  setCpuThreadCount(1);
  const expected = runCase(c);
  setCpuThreadCount(THREADS);
  for (let attempt = 1; ; attempt++) {
    const before = cpuPoolStats().chunksRunByWorkers;
    const actual = runCase(c);
    actual.forEach((out, i) => assertBitIdentical(out, expected[i], `${c.name}, output ${c.outputs[i]}`));
    if (cpuPoolStats().chunksRunByWorkers > before) return;
    assert.ok(attempt < 50, `${c.name}: no worker took part in ${attempt} runs`);
    await sleep(20);
  }
}


function matmulCase(name: string, p: MatmulParams): Case {
  const sizeA = (p.strideA || p.m * p.k) * (p.strideA ? p.batch : 1);
  const sizeB = (p.strideB || p.k * p.n) * (p.strideB ? p.batch : 1);
  return { name, sizes: [sizeA, sizeB, p.batch * p.m * p.n], outputs: [2], run: ([a, b, c]) => be.matmul(a, b, c, p) };
}

const one = { batch: 1, strideA: 0, strideB: 0, strideC: 0 };
const matmulCases = [
  matmulCase('matmul split by rows (A transposed, beta 0.75)', { ...one, m: 200, n: 30, k: 100, transA: true, transB: false, alpha: 0.5, beta: 0.75 }),
  matmulCase('matmul split by columns (B transposed)', { ...one, m: 12, n: 500, k: 90, transA: false, transB: true, alpha: 1, beta: 0 }),
  matmulCase('batched matmul sharing A', { batch: 6, m: 40, n: 50, k: 60, transA: false, transB: false, alpha: 1, beta: 0, strideA: 0, strideB: 60 * 50, strideC: 40 * 50 }),
];

function convCase(name: string, n: number, cIn: number, cOut: number, size: number, kernel: number, pad: number, stride: number, bias: boolean): Case {
  const out = Math.floor((size + 2 * pad - kernel) / stride) + 1;
  const p: Conv2dParams = { n, cIn, h: size, w: size, cOut, kh: kernel, kw: kernel, padH: pad, padW: pad, stride, hOut: out, wOut: out };
  const xSize = n * cIn * size * size;
  const ySize = n * cOut * out * out;
  const wSize = cOut * cIn * kernel * kernel;
  return {
    name,
    // x, w, bias, y, dy, dx, dw
    sizes: [xSize, wSize, cOut, ySize, ySize, xSize, wSize],
    outputs: [3, 5, 6],
    run: ([x, w, b, y, dy, dx, dw]) => {
      be.conv2d(x, w, bias ? b : null, y, p);
      be.conv2dBackwardData(dy, w, dx, p);
      be.conv2dBackwardFilter(x, dy, dw, p);
    },
  };
}

// Through oneDNN (where libdnnl.so.2 loads) a batch splits into chunks of images sized by the shape
// (onednn-conv.ts): these batches make three chunks, the last one smaller.
const convCases = oneDnn()
  ? [
      convCase('conv 3x3 with bias through oneDNN, 8 + 8 + 3 images', 19, 16, 16, 16, 3, 1, 1, true),
      convCase('conv 3x3 stride 2 through oneDNN, 23 + 23 + 4 images', 50, 16, 16, 17, 3, 1, 2, false),
      convCase('conv 1x1 through oneDNN, 29 + 29 + 2 images', 60, 32, 32, 12, 1, 0, 1, true),
    ]
  : [
      convCase('conv 3x3 with bias, images spread over threads', 4, 8, 16, 12, 3, 1, 1, true),
      convCase('conv 3x3 of one image, its products split', 1, 16, 16, 16, 3, 1, 1, false),
      convCase('conv 3x3 stride 2', 3, 16, 16, 17, 3, 1, 2, true),
      convCase('conv 1x1 (no column matrix)', 4, 32, 32, 12, 1, 0, 1, false),
    ];

function attentionCase(name: string, b: number, c: number, l: number): Case {
  const p = { b, c, l };
  return {
    name,
    // qkv, out, weights, dout, dqkv
    sizes: [b * 3 * c * l, b * c * l, b * l * l, b * c * l, b * 3 * c * l],
    outputs: [1, 2, 4],
    run: ([qkv, out, weights, dout, dqkv]) => {
      be.attention(qkv, out, weights, p);
      be.attentionBackward(qkv, weights, dout, dqkv, p);
    },
  };
}

const attentionCases = [attentionCase('attention, entries spread over threads', 4, 24, 64), attentionCase('attention of one entry, its products split', 1, 32, 144)];

const unaryCases = (['silu', 'tanh'] as const).map<Case>((op) => ({
  name: `${op} forward and backward`,
  // (SiLU, in WebAssembly SIMD, splits only from about 130k elements)
  sizes: [200_001, 200_001, 200_001, 200_001],
  outputs: [1, 3],
  run: ([x, y, dy, dx]) => {
    be.unary(op, x, y, 200_001);
    be.unaryBackward(op, x, dy, dx, 200_001);
  },
}));

const groupNormCases = [false, true].map<Case>((silu) => {
  const p = { n: 20, c: 16, hw: 18 * 18, groups: 4, eps: 1e-5, silu };
  const size = p.n * p.c * p.hw;
  return {
    name: `group norm${silu ? ' + silu' : ''} forward and backward, slices spread over threads`,
    // x, gamma, beta, y, mean, rstd, dy, dx, dgamma, dbeta
    sizes: [size, p.c, p.c, size, p.n * p.groups, p.n * p.groups, size, size, p.c, p.c],
    outputs: [3, 4, 5, 7, 8, 9],
    run: ([x, gamma, beta, y, mean, rstd, dy, dx, dgamma, dbeta]) => {
      be.groupNorm(x, gamma, beta, y, mean, rstd, p);
      be.groupNormBackward(x, gamma, beta, mean, rstd, dy, dx, dgamma, dbeta, p);
    },
  };
});

const resampleCases = (['down', 'up'] as const).map<Case>((mode) => {
  const [h, hOut] = mode === 'down' ? [16, 8] : [8, 16];
  const p = { n: 12, c: 16, h, w: h, hOut, wOut: hOut, mode, taps: [1, 3, 3, 1], pad: mode === 'down' ? 1 : 2 };
  const [inSize, outSize] = [p.n * p.c * h * h, p.n * p.c * hOut * hOut];
  return {
    name: `resample ${mode} forward and backward, planes spread over threads`,
    // x, y, dy, dx
    sizes: [inSize, outSize, outSize, inSize],
    outputs: [1, 3],
    run: ([x, y, dy, dx]) => {
      be.resample(x, y, p);
      be.resampleBackward(dy, dx, p);
    },
  };
});

for (const c of [...matmulCases, ...convCases, ...attentionCases, ...unaryCases, ...groupNormCases, ...resampleCases]) {
  test(`${c.name}: bit-identical on 1 and ${THREADS} threads`, () => checkThreadCountsAgree(c));
}

// Workers load the backend's modules, not this file, so for them this task does not exist.
const unknownToWorkers = parallelTask('test.mainThreadOnly', (_: Record<string, never>, _chunk: number) => {
  // Slow chunks on the calling thread leave the workers time to claim some.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
});

test("a worker's failing chunk is rethrown on the calling thread, and the pool keeps working", async () => {
  setCpuThreadCount(THREADS);
  await checkThreadCountsAgree(matmulCases[0]);
  assert.throws(() => parallelFor(unknownToWorkers, {}, 8), /CPU worker failed in test\.mainThreadOnly: .*unknown parallel task "test\.mainThreadOnly"/s);
  await checkThreadCountsAgree(matmulCases[0]);
});

/** Runs a script in a fresh node process that imports the backend as `cpu`, with the given environment. */
/** Runs a script in a child process; one that does not exit by itself is killed and has status null. */
function runChild(script: string, env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const backend = new URL('../../src/backend/cpu/index.js', import.meta.url).href;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `const cpu = await import(${JSON.stringify(backend)});\n${script}`], {
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('STAGEDIFF_CPU_THREADS sets the thread count; a process whose workers did work exits by itself', () => {
  const matmul = `
    const be = cpu.cpuBackend();
    const n = 256;
    const [a, b, c] = [0, 1, 2].map(() => be.alloc('float32', n * n));
    const matmul = () => be.matmul(a, b, c, { batch: 1, m: n, n, k: n, transA: false, transB: false, alpha: 1, beta: 0, strideA: 0, strideB: 0, strideC: 0 });`;
  const two = runChild(
    `${matmul}
    // Workers start with the first big call and join once loaded.
    for (let i = 0; i < 100 && cpu.cpuPoolStats().chunksRunByWorkers === 0; i++) {
      matmul();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    console.log(JSON.stringify(cpu.cpuPoolStats()));`,
    { STAGEDIFF_CPU_THREADS: '2' },
  );
  assert.equal(two.status, 0, `child exited with ${two.status}: ${two.stderr}`);
  const stats = JSON.parse(two.stdout);
  assert.deepEqual([stats.threads, stats.workers], [2, 1]);
  assert.ok(stats.chunksRunByWorkers > 0, 'the worker never ran a chunk');

  const single = runChild(`${matmul} matmul(); console.log(JSON.stringify(cpu.cpuPoolStats()));`, { STAGEDIFF_CPU_THREADS: '1' });
  assert.equal(single.status, 0, single.stderr);
  const alone = JSON.parse(single.stdout);
  assert.deepEqual([alone.threads, alone.workers, alone.chunksRunByWorkers, alone.parallelMs], [1, 0, 0, 0]);

  const invalid = runChild('cpu.cpuThreadCount();', { STAGEDIFF_CPU_THREADS: 'two' });
  assert.notEqual(invalid.status, 0);
  assert.match(invalid.stderr, /STAGEDIFF_CPU_THREADS must be a positive integer, got "two"/);
});
