/**
 * A rank's place in a training group, from the environment torchrun sets (RANK, WORLD_SIZE, LOCAL_RANK,
 * MASTER_ADDR, MASTER_PORT): `stagediff train --gpus N` sets the same variables for its processes, so a
 * group on one node and a group over several nodes (one process per GPU, started by any launcher that
 * sets these) run the same code.
 */
export interface RankEnvironment {
  rank: number;
  size: number;
  /** The rank's GPU among the node's visible GPUs. */
  localRank: number;
  masterAddr: string;
  masterPort: number;
}

const VARIABLES = ['RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'] as const;

/** The group this process belongs to, or null when none of the variables is set (a run on its own). */
export function rankEnvironment(env: NodeJS.ProcessEnv = process.env): RankEnvironment | null {
  const set = VARIABLES.filter((v) => env[v] !== undefined && env[v] !== '');
  if (set.length === 0) return null;
  const missing = VARIABLES.filter((v) => !set.includes(v));
  if (missing.length > 0) throw new Error(`${set.join(', ')} ${set.length === 1 ? 'is' : 'are'} set but ${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not: a rank of a training group needs all of ${VARIABLES.join(', ')}`);
  const whole = (name: (typeof VARIABLES)[number], min: number, max = Infinity): number => {
    const text = env[name]!;
    const n = Number(text);
    if (!/^\d+$/.test(text) || n < min || n > max) throw new Error(`${name} must be a whole number from ${min}${Number.isFinite(max) ? ` to ${max}` : ''}, got "${text}"`);
    return n;
  };
  const size = whole('WORLD_SIZE', 1);
  return { rank: whole('RANK', 0, size - 1), size, localRank: whole('LOCAL_RANK', 0), masterAddr: env.MASTER_ADDR!, masterPort: whole('MASTER_PORT', 1, 65535) };
}

/**
 * Makes the rank's GPU the only one this process sees (CUDA_VISIBLE_DEVICES, narrowed to its LOCAL_RANK-th
 * entry), so the CUDA backend's device 0 is the rank's GPU. Must run before the CUDA driver starts.
 */
export function selectLocalGpu(localRank: number, env: NodeJS.ProcessEnv = process.env): string {
  const listed = env.CUDA_VISIBLE_DEVICES?.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (listed && localRank >= listed.length) throw new Error(`LOCAL_RANK is ${localRank} but CUDA_VISIBLE_DEVICES lists ${listed.length} GPU(s) (${env.CUDA_VISIBLE_DEVICES}): start at most one rank per visible GPU`);
  const device = listed ? listed[localRank] : String(localRank);
  env.CUDA_VISIBLE_DEVICES = device;
  return device;
}
