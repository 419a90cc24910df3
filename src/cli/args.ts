/** Flag parsing shared by the commands, on node:util's parseArgs, with errors that name the flag. */
import { parseArgs } from 'node:util';

type Options = NonNullable<Parameters<typeof parseArgs>[0]>['options'];

export function parseFlags<O extends Options>(argv: string[], options: O, usage: string): ReturnType<typeof parseArgs<{ options: O; args: string[]; allowPositionals: false; strict: true }>>['values'] {
  return parseCommandLine(argv, options, usage, false).values;
}

/** As parseFlags, for commands that also take operands (`stagediff report RUN_DIR ...`). */
export function parseFlagsAndOperands<O extends Options>(argv: string[], options: O, usage: string): ReturnType<typeof parseArgs<{ options: O; args: string[]; allowPositionals: true; strict: true }>> {
  return parseCommandLine(argv, options, usage, true);
}

function parseCommandLine<O extends Options, P extends boolean>(argv: string[], options: O, usage: string, allowPositionals: P) {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage);
    process.exit(0);
  }
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new Error(`${(e as Error).message}\n\n${usage}`);
  }
}

export function integerFlag(name: string, value: string | undefined, min = 0): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be a whole number >= ${min}, got "${value}"`);
  return n;
}
