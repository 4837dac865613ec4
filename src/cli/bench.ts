import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { CliRunError, UsageError } from './usage-error.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The benchmark scripts `bench` runs, in order; each is written and owned alongside the code it measures. */
export const BENCH_SCRIPTS = {
  step: { file: 'bench/step.ts', what: 'optimizer step time' },
  memory: { file: 'bench/memory.ts', what: 'optimizer state memory' },
} as const;

export type BenchName = keyof typeof BENCH_SCRIPTS;

export function benchScriptPath(name: BenchName): string {
  return join(ROOT, BENCH_SCRIPTS[name].file);
}

/**
 * Runs the benchmark scripts as child processes (each with tsx's loader, so they run from any working
 * directory) and returns the first non-zero exit code, or 0. Scripts not in this build are reported, not faked.
 */
export function runBench(
  only: string | undefined,
  args: readonly string[],
  print: (line: string) => void,
): number {
  let names = Object.keys(BENCH_SCRIPTS) as BenchName[];
  if (only !== undefined) {
    if (!names.includes(only as BenchName)) {
      throw new UsageError(`unknown benchmark '${only}' (known: ${names.join(', ')})`);
    }
    names = [only as BenchName];
  }
  const present = names.filter((n) => existsSync(benchScriptPath(n)));
  for (const n of names) {
    if (!present.includes(n))
      print(`note: ${BENCH_SCRIPTS[n].file} (${BENCH_SCRIPTS[n].what}) is not in this build yet`);
  }
  if (present.length === 0) {
    throw new CliRunError(
      `no benchmark script is available (${names.map((n) => BENCH_SCRIPTS[n].file).join(', ')})`,
    );
  }
  const tsxLoader = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  for (const n of present) {
    print(`== ${BENCH_SCRIPTS[n].file}: ${BENCH_SCRIPTS[n].what}`);
    const child = spawnSync(process.execPath, ['--import', tsxLoader, benchScriptPath(n), ...args], {
      stdio: 'inherit',
      cwd: ROOT,
    });
    if (child.error) throw new CliRunError(`cannot run ${BENCH_SCRIPTS[n].file}: ${child.error.message}`);
    const code = child.status ?? 1;
    if (code !== 0) {
      print(`${BENCH_SCRIPTS[n].file} exited with code ${code}${child.signal ? ` (${child.signal})` : ''}`);
      return code;
    }
  }
  return 0;
}
