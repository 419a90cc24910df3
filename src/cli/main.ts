#!/usr/bin/env node
/**
 * The `stagediff` command: a thin layer over the library. Each subcommand lives in cli/commands/.
 */
import { packageVersion } from './version.js';
import { infoCommand } from './commands/info.js';
import { trainCommand } from './commands/train.js';
import { sampleCommand } from './commands/sample.js';
import { clusterCommand } from './commands/cluster.js';
import { quickstartCommand } from './commands/quickstart.js';
import { benchCommand } from './commands/bench.js';
import { evalCommand } from './commands/eval.js';
import { fidStatsCommand } from './commands/fid-stats.js';
import { featnetCommand } from './commands/featnet.js';
import { reportCommand } from './commands/report.js';

interface Command {
  summary: string;
  run(argv: string[]): Promise<void> | void;
}

const commands: Record<string, Command> = {
  train: { summary: 'train a model from a preset or config file (resumable)', run: trainCommand },
  sample: { summary: 'draw images from a checkpoint into a PNG grid', run: sampleCommand },
  cluster: { summary: 'find stage boundaries with the optimal denoiser of the data (Algorithm 1, K stages)', run: clusterCommand },
  quickstart: { summary: 'cluster, train and sample on built-in data in minutes (npm start)', run: quickstartCommand },
  eval: { summary: 'FID (or FD_featnet) of a checkpoint\'s samples against reference statistics; logged to the run', run: evalCommand },
  'fid-stats': { summary: 'reference feature statistics (mu, sigma npz) of a dataset for eval', run: fidStatsCommand },
  featnet: { summary: 'train the small classifier behind FD_featnet (for machines without the Inception weights)', run: featnetCommand },
  report: { summary: 'one self-contained HTML page of training runs: curves, FD/FID, sample grids, config', run: reportCommand },
  bench: { summary: 'training and sampling images/s of the paper\'s CIFAR-10 networks', run: benchCommand },
  info: { summary: 'version, available backends (CPU threads, GPU and its libraries)', run: infoCommand },
};

function usage(): string {
  const width = Math.max(...Object.keys(commands).map((c) => c.length));
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`);
  return [
    `stagediff ${packageVersion()}: multi-stage diffusion models (shared encoder, one decoder per noise stage)`,
    '',
    'usage: stagediff <command> [options]     (stagediff <command> --help for its options)',
    '',
    'commands:',
    ...lines,
  ].join('\n');
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return;
  }
  if (name === '--version' || name === '-v') {
    console.log(packageVersion());
    return;
  }
  const command = commands[name];
  if (!command) {
    console.error(`stagediff: unknown command "${name}"\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  await command.run(rest);
}

// A reader that closes early (`stagediff info | head -1`) ends the output, not the process with a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw e;
  });
}

main(process.argv.slice(2)).catch((e: unknown) => {
  // Errors carry their own explanation; a stack trace only when asked for.
  const message = e instanceof Error ? e.message : String(e);
  console.error(`stagediff: ${message}`);
  if (process.env.STAGEDIFF_DEBUG && e instanceof Error) console.error(e.stack);
  process.exitCode = 1;
});
