import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommanderError } from 'commander';
import { runBench } from './bench.ts';
import { runCompare } from './compare.ts';
import { resolveCompareOptions } from './compare-options.ts';
import { buildProgram, type Invocation } from './program.ts';
import { BarProgress, LineProgress, type ProgressSink } from './report/progress.ts';
import { CliRunError, UsageError } from './usage-error.ts';

export interface CliIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  stderr: { write(text: string): unknown };
  /** Overrides the progress display (tests pass NoProgress). */
  progress?: ProgressSink;
}

/** Exit codes: 0 success, 1 a failure while running, 2 a bad command line (usage printed). */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

function version(): string {
  const pkg = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'package.json');
  try {
    return String((JSON.parse(readFileSync(pkg, 'utf8')) as { version?: string }).version ?? '0.0.0');
  } catch {
    return '0.0.0';
  }
}

function usageLine(argv: readonly string[]): string {
  const sub = argv.find((a) => !a.startsWith('-'));
  if (sub === 'compare' || sub === 'bench') {
    return `Usage: shampoo-ts ${sub} [options]${sub === 'bench' ? ' [-- args...]' : ''}\nRun 'shampoo-ts ${sub} --help' for the options.`;
  }
  return "Usage: shampoo-ts [options] <compare|bench> [options]\nRun 'shampoo-ts --help' or 'shampoo-ts <command> --help' for details.";
}

/** One line: multi-problem messages are joined so the error stays on a single line. */
function oneLine(message: string): string {
  return message.split('\n').filter(Boolean).join('; ');
}

/** Runs the CLI with `argv` (without node and script) and returns the exit code; never calls process.exit. */
export async function main(
  argv: readonly string[],
  io: CliIo = { stdout: process.stdout, stderr: process.stderr },
): Promise<number> {
  let invocation: Invocation | undefined;
  const program = buildProgram(
    { out: (s) => io.stdout.write(s), err: (s) => io.stderr.write(s) },
    (inv) => {
      invocation = inv;
    },
    version(),
  );
  try {
    if (argv.length === 0) {
      io.stderr.write(`${program.helpInformation()}`);
      return EXIT.usage;
    }
    await program.parseAsync([...argv], { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // Help asked for (--help, `help <command>`) or the version: done. Help shown because of an error: usage code.
      if (['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(e.code)) {
        return e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      }
      // commander has printed its own one-line error; add the usage.
      io.stderr.write(`${usageLine(argv)}\n`);
      return EXIT.usage;
    }
    throw e;
  }
  if (!invocation) return EXIT.ok;
  try {
    if (invocation.command === 'bench') {
      return runBench(invocation.only, invocation.args, (line) => io.stdout.write(`${line}\n`));
    }
    const options = resolveCompareOptions(invocation.options);
    const progress =
      io.progress ??
      (io.stdout.isTTY
        ? new BarProgress(io.stdout as NodeJS.WriteStream)
        : new LineProgress((line) => io.stdout.write(`${line}\n`)));
    const onSigint = () => {
      progress.stop();
      // Restore the cursor the progress bar hid.
      if (io.stdout.isTTY) io.stdout.write('\x1b[?25h');
      io.stderr.write('\ninterrupted\n');
      process.exit(130);
    };
    process.once('SIGINT', onSigint);
    try {
      await runCompare(options, { print: (line) => io.stdout.write(`${line}\n`), progress }, argv);
    } finally {
      process.removeListener('SIGINT', onSigint);
    }
    return EXIT.ok;
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr.write(`error: ${oneLine(e.message)}\n${usageLine(argv)}\n`);
      return EXIT.usage;
    }
    if (e instanceof CliRunError) {
      io.stderr.write(`error: ${oneLine(e.message)}\n`);
      return EXIT.failure;
    }
    const err = e as Error;
    io.stderr.write(`internal error: ${err?.stack ?? String(e)}\n`);
    return EXIT.failure;
  }
}
