/**
 * `stagediff train --gpus N` on one node: N processes of the same command, one per GPU, with the
 * environment torchrun would give them (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT). Rank 0
 * keeps the terminal; the others' output is prefixed with their rank. When a rank fails, the others are
 * stopped (a collective would otherwise wait for it forever) and its exit is what the launcher reports.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createInterface } from 'node:readline';

export interface LaunchOptions {
  ranks: number;
  /** The command each rank runs: executable and arguments. */
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  /** Where the prefixed output of ranks 1.. goes (default: this process's stderr). */
  write?: (line: string) => void;
}

export interface LaunchResult {
  /** 0 when every rank succeeded, else the exit code of the first rank that failed. */
  code: number;
  /** The first rank that failed and how (rank -1: the launcher itself was stopped), or null. */
  failure: { rank: number; how: string } | null;
}

/** A TCP port free right now on this machine, for rank 0's rendezvous. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

export async function launchRanks(options: LaunchOptions): Promise<LaunchResult> {
  const { ranks } = options;
  if (!Number.isInteger(ranks) || ranks < 1) throw new Error(`--gpus must be a positive whole number, got ${ranks}`);
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const port = await freePort();
  const children: ChildProcess[] = [];
  let failure: LaunchResult['failure'] = null;
  let code = 0;
  const exits = Array.from({ length: ranks }, (_, rank) => {
    const env = { ...(options.env ?? process.env), RANK: String(rank), WORLD_SIZE: String(ranks), LOCAL_RANK: String(rank), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) };
    const child = spawn(options.command, options.args, { env, stdio: rank === 0 ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => write(`[rank ${rank}] ${line}`));
    }
    return new Promise<void>((resolve) => {
      child.on('error', (e) => {
        fail(rank, `could not start: ${e.message}`, 1);
        resolve();
      });
      child.on('exit', (exitCode, signal) => {
        if (exitCode !== 0) fail(rank, signal ? `was ended by ${signal}` : `exited with code ${exitCode}`, exitCode ?? 1);
        resolve();
      });
    });
  });
  function fail(rank: number, how: string, exitCode: number): void {
    if (failure) return;
    failure = { rank, how };
    code = exitCode;
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  }
  // Stopping the launcher stops its ranks (Ctrl-C reaches them anyway; a kill of the launcher alone would not).
  const forward = (signal: NodeJS.Signals) => fail(-1, `was stopped by ${signal}`, 1);
  process.on('SIGINT', forward).on('SIGTERM', forward);
  try {
    await Promise.all(exits);
  } finally {
    process.off('SIGINT', forward).off('SIGTERM', forward);
  }
  return { code, failure };
}
