/** The rank environment, the rendezvous that hands out NCCL's unique id, and the one-node launcher. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rankEnvironment, selectLocalGpu } from '../../src/distributed/environment.js';
import { rendezvous } from '../../src/distributed/rendezvous.js';
import { freePort, launchRanks } from '../../src/distributed/launcher.js';

test('the rank environment: all of the torchrun variables or none, checked', () => {
  assert.equal(rankEnvironment({}), null);
  assert.deepEqual(rankEnvironment({ RANK: '1', WORLD_SIZE: '4', LOCAL_RANK: '1', MASTER_ADDR: 'node0', MASTER_PORT: '29500' }), { rank: 1, size: 4, localRank: 1, masterAddr: 'node0', masterPort: 29500 });
  assert.throws(() => rankEnvironment({ RANK: '0', WORLD_SIZE: '2' }), /RANK, WORLD_SIZE are set but LOCAL_RANK, MASTER_ADDR, MASTER_PORT are not/);
  assert.throws(() => rankEnvironment({ RANK: '2', WORLD_SIZE: '2', LOCAL_RANK: '0', MASTER_ADDR: 'x', MASTER_PORT: '1' }), /RANK must be a whole number from 0 to 1, got "2"/);
  assert.throws(() => rankEnvironment({ RANK: '0', WORLD_SIZE: 'two', LOCAL_RANK: '0', MASTER_ADDR: 'x', MASTER_PORT: '1' }), /WORLD_SIZE must be a whole number/);
});

test("a rank sees only its GPU: LOCAL_RANK picks from CUDA_VISIBLE_DEVICES (or the node's numbering)", () => {
  const env: NodeJS.ProcessEnv = { CUDA_VISIBLE_DEVICES: '4,5,6,7' };
  assert.equal(selectLocalGpu(2, env), '6');
  assert.equal(env.CUDA_VISIBLE_DEVICES, '6');
  const bare: NodeJS.ProcessEnv = {};
  selectLocalGpu(3, bare);
  assert.equal(bare.CUDA_VISIBLE_DEVICES, '3');
  assert.throws(() => selectLocalGpu(2, { CUDA_VISIBLE_DEVICES: '0,1' }), /LOCAL_RANK is 2 but CUDA_VISIBLE_DEVICES lists 2 GPU/);
});

test("the rendezvous hands rank 0's id to every rank, whichever starts first, and refuses a wrong WORLD_SIZE", async () => {
  const port = await freePort();
  const env = (rank: number, size = 3) => ({ rank, size, localRank: rank, masterAddr: '127.0.0.1', masterPort: port });
  const id = Uint8Array.from({ length: 128 }, (_, i) => (i * 7) % 256);
  const joiners = [rendezvous(env(1), () => assert.fail('only rank 0 makes the id')), rendezvous(env(2), () => assert.fail('only rank 0 makes the id'))];
  await new Promise((r) => setTimeout(r, 300)); // the others are already retrying when rank 0 starts
  const all = await Promise.all([rendezvous(env(0), () => id), ...joiners]);
  for (const got of all) assert.deepEqual(got, id);

  const port2 = await freePort();
  const wrong = { rank: 1, size: 3, localRank: 1, masterAddr: '127.0.0.1', masterPort: port2 };
  const [leader, joiner] = await Promise.allSettled([rendezvous({ ...wrong, rank: 0, size: 2 }, () => id), rendezvous(wrong, () => id)]);
  assert.equal(leader.status, 'rejected');
  assert.match(String((leader as PromiseRejectedResult).reason), /a rank has WORLD_SIZE 3, rank 0 has 2/);
  assert.match(String((joiner as PromiseRejectedResult).reason), /rank 0 at 127.0.0.1:\d+ ended the rendezvous: .*WORLD_SIZE 3/);
  await assert.rejects(rendezvous({ ...wrong, masterPort: await freePort() }, () => id, { timeoutMs: 600 }), /no answer from rank 0 at 127\.0\.0\.1:\d+ within 0\.6 s/);
});

test('the launcher gives each rank its environment, and a rank that fails stops the others', async () => {
  const lines: string[] = [];
  const printEnvironment = `
    const { RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT } = process.env;
    console.log([RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT > 0].join(' '));`;
  const ok = await launchRanks({ ranks: 2, command: process.execPath, args: ['-e', printEnvironment], write: (l) => lines.push(l) });
  assert.deepEqual(ok, { code: 0, failure: null });
  assert.deepEqual(lines, ['[rank 1] 1 2 1 127.0.0.1 true']);
  lines.length = 0;
  // Rank 2 fails while the others wait; whether they printed anything before being stopped depends on
  // how fast the machine starts processes, so only the failure and its message are checked.
  const script = `
    if (process.env.RANK === '2') { console.error('rank 2 gives up'); process.exit(3); }
    setTimeout(() => {}, 60000);`;
  const started = Date.now();
  const failed = await launchRanks({ ranks: 4, command: process.execPath, args: ['-e', script], write: (l) => lines.push(l) });
  assert.deepEqual(failed, { code: 3, failure: { rank: 2, how: 'exited with code 3' } });
  assert.ok(Date.now() - started < 30000, 'the ranks still waiting were stopped');
  assert.ok(lines.includes('[rank 2] rank 2 gives up'));
  // A rank killed outright (out of memory, say) has no message of its own: the launcher names the signal.
  const killed = await launchRanks({ ranks: 2, command: process.execPath, args: ['-e', `if (process.env.RANK === '1') process.kill(process.pid, 'SIGKILL'); setTimeout(() => {}, 60000);`], write: () => {} });
  assert.deepEqual(killed, { code: 1, failure: { rank: 1, how: 'was ended by SIGKILL' } });
});

test('stopping the launcher stops its ranks', async () => {
  const started = Date.now();
  const launch = launchRanks({ ranks: 2, command: process.execPath, args: ['-e', 'setTimeout(() => {}, 60000)'], write: () => {} });
  setTimeout(() => process.emit('SIGTERM', 'SIGTERM'), 500);
  assert.deepEqual(await launch, { code: 1, failure: { rank: -1, how: 'was stopped by SIGTERM' } });
  assert.ok(Date.now() - started < 30000);
});
