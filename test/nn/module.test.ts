import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as T from '../../src/tensor/index.js';
import { cpuBackend } from '../../src/backend/cpu/index.js';
import { type HostTensor, Linear, Module, ModuleDict, Parameter, UNetBlock, hostTensor, loadStateDictFile, saveStateDictFile } from '../../src/nn/index.js';

T.setBackend(cpuBackend());

/** EDM's UNetBlock(4 -> 8, down, attention, adaptive_scale=False) as PyTorch lists its state_dict. */
const EDM_BLOCK_KEYS = [
  'norm0.weight [4]', 'norm0.bias [4]', 'conv0.weight [8,4,3,3]', 'conv0.bias [8]', 'conv0.resample_filter [1,1,2,2]',
  'affine.weight [8,16]', 'affine.bias [8]', 'norm1.weight [8]', 'norm1.bias [8]', 'conv1.weight [8,8,3,3]', 'conv1.bias [8]',
  'skip.weight [8,4,1,1]', 'skip.bias [8]', 'skip.resample_filter [1,1,2,2]',
  'norm2.weight [8]', 'norm2.bias [8]', 'qkv.weight [24,8,1,1]', 'qkv.bias [24]', 'proj.weight [8,8,1,1]', 'proj.bias [8]',
];

class Net extends Module {
  readonly blocks = this.registerModule('blocks', new ModuleDict<UNetBlock>());
  readonly head: Linear;
  constructor(source: T.Generator | 'empty') {
    super();
    this.blocks.set('8x8_block0', new UNetBlock(4, 8, 16, { down: true, attention: true, numHeads: 1, adaptiveScale: false }, source));
    this.head = this.registerModule('head', new Linear(3, 2, {}, source));
  }
}

const host = (m: Module): Map<string, HostTensor> => new Map([...m.stateDict()].map(([k, t]) => [k, hostTensor(t)]));

test('state dict names, shapes and order follow PyTorch: own parameters, own buffers, then children, dotted', () => {
  const net = new Net(new T.Generator(0));
  const keys = [...net.stateDict()].map(([k, t]) => `${k} ${JSON.stringify(t.shape)}`);
  assert.deepEqual(keys, [...EDM_BLOCK_KEYS.map((k) => `blocks.8x8_block0.${k}`), 'head.weight [2,3]', 'head.bias [2]']);
  assert.deepEqual(net.namedBuffers().map(([k]) => k), ['blocks.8x8_block0.conv0.resample_filter', 'blocks.8x8_block0.skip.resample_filter']);
  assert.equal(net.parameters().length, EDM_BLOCK_KEYS.length - 2 + 2);
  assert.equal(net.numParameters(), net.parameters().reduce((n, p) => n + p.size, 0));
  assert.ok(net.parameters().every((p) => p instanceof Parameter && p.requiresGrad));
  assert.deepEqual([...net.blocks.get('8x8_block0').conv0.resampleTaps], [1, 1]);
  assert.deepEqual([...net.stateDict().get('blocks.8x8_block0.conv0.resample_filter')!.toFloat32Array()], [0.25, 0.25, 0.25, 0.25]);
});

test('parameters outlive the memory scope they were made in; train/eval reach every descendant', () => {
  const net = T.tidy(() => new Net(new T.Generator(0)));
  assert.ok(net.parameters().every((p) => !p.isDisposed));
  assert.ok(net.namedBuffers().every(([, b]) => !b.isDisposed));
  net.eval();
  assert.ok(net.namedModules().every(([, m]) => !m.training));
  net.train();
  assert.ok(net.namedModules().every(([, m]) => m.training));
  assert.throws(() => new (class extends Module {
    constructor() {
      super();
      this.registerModule('a', new Linear(1, 1, {}, 'empty'));
      this.registerParameter('a', T.zeros([1]));
    }
  })(), /"a" is already registered/);
});

test('a state dict loads in place by name, through a safetensors file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'stagediff-sd-'));
  try {
    const a = new Net(new T.Generator(1));
    const b = new Net(new T.Generator(2));
    const w = b.head.weight;
    const path = join(dir, 'net.safetensors');
    saveStateDictFile(a, path);
    assert.deepEqual(loadStateDictFile(b, path), { missing: [], unexpected: [] });
    assert.equal(b.head.weight, w, 'the same Parameter object, updated in place');
    for (const [k, t] of a.stateDict()) assert.deepEqual([...b.stateDict().get(k)!.toFloat32Array()], [...t.toFloat32Array()], k);

    writeFileSync(join(dir, 'cut.safetensors'), readFileSync(path).subarray(0, 100));
    assert.throws(() => loadStateDictFile(b, join(dir, 'cut.safetensors')), /cut\.safetensors: truncated/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('half-precision tensors load into float32 parameters', () => {
  const m = new Linear(2, 1, {}, 'empty');
  m.loadStateDict(new Map<string, HostTensor>([
    ['weight', { dtype: 'bfloat16', shape: [1, 2], data: Uint16Array.from([0x3f80, 0xc040]) }],
    ['bias', { dtype: 'float16', shape: [1], data: Uint16Array.from([0x3800]) }],
  ]));
  assert.deepEqual([...m.weight.toFloat32Array()], [1, -3]);
  assert.deepEqual([...m.bias!.toFloat32Array()], [0.5]);
});

test('missing, unexpected and wrongly shaped tensors fail with their names and shapes, and change nothing', () => {
  const net = new Net(new T.Generator(3));
  const before = net.head.weight.toFloat32Array();
  const source = host(new Net(new T.Generator(4)));

  const missing = new Map(source);
  missing.delete('blocks.8x8_block0.qkv.weight');
  assert.throws(() => net.loadStateDict(missing), /missing \(the model has them, the state dict does not\): blocks\.8x8_block0\.qkv\.weight \[24, 8, 1, 1\]/);

  const extra = new Map(source);
  extra.set('blocks.8x8_block0.extra.weight', { dtype: 'float32', shape: [2, 2], data: new Float32Array(4) });
  assert.throws(() => net.loadStateDict(extra), /unexpected \(the state dict has them, the model does not\): blocks\.8x8_block0\.extra\.weight \[2, 2\]/);

  const wrong = new Map(source);
  wrong.set('head.weight', { dtype: 'float32', shape: [3, 2], data: new Float32Array(6) });
  assert.throws(() => net.loadStateDict(wrong), /wrong shape: head\.weight: state dict \[3, 2\], model \[2, 3\]/);
  assert.throws(() => net.loadStateDict(wrong, { strict: false }), /wrong shape: head\.weight/);

  const filter = new Map(source);
  filter.set('blocks.8x8_block0.skip.resample_filter', { dtype: 'float32', shape: [1, 1, 2, 2], data: Float32Array.from([0.5, 0, 0, 0.5]) });
  assert.throws(() => net.loadStateDict(filter), /blocks\.8x8_block0\.skip\.resample_filter: constant buffer differs/);

  assert.deepEqual([...net.head.weight.toFloat32Array()], [...before], 'a failed load writes nothing');
  const both = new Map(missing);
  both.set('blocks.8x8_block0.extra.weight', extra.get('blocks.8x8_block0.extra.weight')!);
  assert.deepEqual(net.loadStateDict(both, { strict: false }), {
    missing: ['blocks.8x8_block0.qkv.weight'],
    unexpected: ['blocks.8x8_block0.extra.weight'],
  });
  assert.notDeepEqual([...net.head.weight.toFloat32Array()], [...before], 'a non-strict load writes what matches');
});
