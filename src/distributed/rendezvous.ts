/**
 * The rendezvous that hands rank 0's NCCL unique id to every rank: rank 0 listens on MASTER_PORT, the
 * others connect to MASTER_ADDR:MASTER_PORT (retrying until rank 0 is up), say who they are, and receive
 * the id. One JSON line each way; the connections close once every rank has the id.
 */
import { type Server, type Socket, connect, createServer } from 'node:net';
import type { RankEnvironment } from './environment.js';

export interface RendezvousOptions {
  /** How long to wait for every rank (default 10 minutes: a slow node may still be loading its data). */
  timeoutMs?: number;
}

interface Hello {
  rank: number;
  size: number;
}

/** Rank 0: `payload` for every rank once all have connected; the others: rank 0's payload. */
export function rendezvous(env: RankEnvironment, payload: () => Uint8Array, options: RendezvousOptions = {}): Promise<Uint8Array> {
  const timeoutMs = options.timeoutMs ?? 600_000;
  if (env.size === 1) return Promise.resolve(payload());
  return env.rank === 0 ? serve(env, payload, timeoutMs) : join(env, timeoutMs);
}

function where(env: RankEnvironment): string {
  return `${env.masterAddr}:${env.masterPort}`;
}

/** Reads JSON lines from a socket. */
function onLines(socket: Socket, handle: (message: unknown) => void): void {
  let pending = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    pending += chunk;
    for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
      const line = pending.slice(0, nl);
      pending = pending.slice(nl + 1);
      let message: unknown;
      try {
        message = JSON.parse(line);
      } catch {
        message = { error: `not a rendezvous message: ${line.slice(0, 80)}` };
      }
      handle(message);
    }
  });
}

function serve(env: RankEnvironment, payload: () => Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    const peers = new Map<number, Socket>();
    // Every connection, also those refused: each hears how the rendezvous ended.
    const connections = new Set<Socket>();
    let server: Server | null = null;
    const finish = (error: Error | null, id?: Uint8Array) => {
      clearTimeout(timer);
      const line = JSON.stringify(error ? { error: error.message } : { id: Buffer.from(id!).toString('base64') }) + '\n';
      for (const s of connections) s.end(line);
      server?.close();
      if (error) reject(error);
      else resolve(id!);
    };
    const timer = setTimeout(() => {
      const absent = Array.from({ length: env.size - 1 }, (_, i) => i + 1).filter((r) => !peers.has(r));
      finish(new Error(`rendezvous on port ${env.masterPort}: ranks ${absent.join(', ')} did not connect within ${timeoutMs / 1000} s (check MASTER_ADDR, MASTER_PORT and that every rank started)`));
    }, timeoutMs);
    server = createServer((socket) => {
      connections.add(socket);
      onLines(socket, (message) => {
        const hello = message as Partial<Hello>;
        if (hello.size !== env.size) return finish(new Error(`rendezvous: a rank has WORLD_SIZE ${hello.size}, rank 0 has ${env.size}; start every rank with the same WORLD_SIZE`));
        if (!Number.isInteger(hello.rank) || hello.rank! < 1 || hello.rank! >= env.size || peers.has(hello.rank!)) return finish(new Error(`rendezvous: rank ${hello.rank} connected twice or is not a rank of ${env.size}; give every process its own RANK`));
        peers.set(hello.rank!, socket);
        if (peers.size === env.size - 1) {
          try {
            finish(null, payload());
          } catch (e) {
            finish(e as Error);
          }
        }
      });
      socket.on('error', () => {});
    });
    server.on('error', (e) => finish(new Error(`rendezvous: rank 0 cannot listen on port ${env.masterPort}: ${e.message} (choose another MASTER_PORT)`)));
    server.listen(env.masterPort);
  });
}

function join(env: RankEnvironment, timeoutMs: number): Promise<Uint8Array> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      let answered = false;
      const socket = connect({ host: env.masterAddr, port: env.masterPort }, () => socket.write(JSON.stringify({ rank: env.rank, size: env.size } satisfies Hello) + '\n'));
      onLines(socket, (message) => {
        answered = true;
        const m = message as { id?: string; error?: string };
        if (typeof m.id === 'string') resolve(new Uint8Array(Buffer.from(m.id, 'base64')));
        else reject(new Error(`rank 0 at ${where(env)} ended the rendezvous: ${m.error ?? 'no reason given'}`));
        socket.destroy();
      });
      let failure = 'the connection closed without an answer';
      socket.on('error', (e) => {
        failure = e.message;
      });
      // 'close' follows every error: rank 0 may not be listening yet, so try again until the deadline.
      socket.on('close', () => {
        if (answered) return;
        if (Date.now() < deadline) setTimeout(attempt, 250);
        else reject(new Error(`rank ${env.rank}: no answer from rank 0 at ${where(env)} within ${timeoutMs / 1000} s: ${failure} (check MASTER_ADDR and MASTER_PORT, and that rank 0 started)`));
      });
    };
    attempt();
  });
}
