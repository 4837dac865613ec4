// Low-precision optimizer state on real data: the CLI's MNIST MLP (784-512-256-10 on the `mnist` package's
// digits) trained once per method × precision from the same seed, batch order and learning rate, with
// AdamW as the reference. Prints one markdown table: final train/test loss, test accuracy, the test loss
// relative to the same method at fp32 (criterion: within 2%), state bytes and the median optimizer step.
// Training, data, model and optimizer construction are the CLI's own (src/cli), so a row here is exactly
// `shampoo-ts compare --optimizers <method>:<precision>` with the same settings.
//
// Run with `npm run bench:mnist-precision` (options: --steps 1000 --batch-size 64 --seed 1
// --methods soap,kl-soap,kl-shampoo,shampoo,adamw --precisions fp32,bf16,4bit,bf16-naive,4bit-naive
// --lr soap=3e-3 --out results/mnist-precision.json --backend wasm --engine auto --table-only
// --extra '{"subspaceSize":1024}').
// Every finished run is written to the JSON file at once; a run already there with the same settings is
// skipped, so an interrupted invocation continues where it stopped, and subsets accumulate into one table.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { dirname } from 'node:path';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { type BackendName, useBackend } from '../src/cli/backend.ts';
import { DEFAULT_LR, METHOD_CONFIG } from '../src/cli/compare-options.ts';
import {
  METHODS,
  type MethodName,
  type OptimizerSpec,
  PRECISIONS,
  type Precision,
  parseLrList,
  parseOptimizerList,
  resolveLrs,
} from '../src/cli/optimizer-specs.ts';
import { LineProgress } from '../src/cli/report/progress.ts';
import { loadTask } from '../src/cli/tasks/load-task.ts';
import { type EngineOption, preflight } from '../src/cli/train/optimizer-factory.ts';
import { type RunRecord, runOne } from '../src/cli/train/run.ts';
import { STORAGE_KEYS } from '../src/optimizers/storage-config.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '1000' },
    'batch-size': { type: 'string', default: '64' },
    seed: { type: 'string', default: '1' },
    methods: { type: 'string', default: 'adamw,soap,kl-soap,kl-shampoo,shampoo' },
    precisions: { type: 'string', default: PRECISIONS.join(',') },
    // Learning rates in the CLI's syntax (`soap=3e-3`, `soap:4bit=1e-3`); default: the CLI's per method. Entries
    // for methods not in --methods are ignored.
    lr: { type: 'string' },
    out: { type: 'string', default: 'results/mnist-precision.json' },
    backend: { type: 'string', default: 'wasm' },
    engine: { type: 'string', default: 'auto' },
    // Print the table from the JSON file without training anything.
    'table-only': { type: 'boolean', default: false },
    // Hyperparameters (a JSON object) merged into the configuration of every run but AdamW's, on top of the
    // CLI's METHOD_CONFIG. Options that only shape low-precision state (LOWBIT_ONLY) are left out of the fp32
    // runs, so their fp32 reference rows are the same runs as without --extra. Part of each run's stored settings.
    extra: { type: 'string', default: '{}' },
  },
});

/** The 2% criterion of the low-precision states: |test loss / fp32 test loss − 1| ≤ TOLERANCE. */
const TOLERANCE = 0.02;
/** Precisions the criterion applies to; the naive ones are baselines shown beside them. */
const JUDGED: readonly Precision[] = ['bf16', '4bit'];

/**
 * Storage options that have no effect on a run at fp32 precision (docs/storage.md §5): all but the two that
 * shape the moments, which fp32 has too.
 */
const LOWBIT_ONLY: readonly string[] = STORAGE_KEYS.filter(
  (key) => key !== 'momentPrecision' && key !== 'stochasticRounding',
);

const parsedExtra = JSON.parse(values.extra) as unknown;
if (typeof parsedExtra !== 'object' || parsedExtra === null || Array.isArray(parsedExtra))
  throw new Error('--extra must be a JSON object');
const extra = parsedExtra as Readonly<Record<string, unknown>>;

/** The configuration a run gets besides lr and precision: the CLI's, plus the applicable part of --extra. */
function configFor(spec: OptimizerSpec): Readonly<Record<string, unknown>> {
  if (spec.method === 'adamw') return METHOD_CONFIG[spec.method];
  const own = Object.entries(extra).filter(
    ([key]) => (spec.precision ?? 'fp32') !== 'fp32' || !LOWBIT_ONLY.includes(key),
  );
  return { ...METHOD_CONFIG[spec.method], ...Object.fromEntries(own) };
}

const steps = Number(values.steps);
const batchSize = Number(values['batch-size']);
const seed = Number(values.seed);
for (const [flag, v] of [
  ['--steps', steps],
  ['--batch-size', batchSize],
  ['--seed', seed],
] as const) {
  if (!Number.isInteger(v) || v < (flag === '--seed' ? 0 : 1)) throw new Error(`${flag} must be an integer`);
}
const evalEvery = Math.max(1, Math.round(steps / 10));
const backend = values.backend as BackendName;
const engine = values.engine as EngineOption;

const methods = values.methods.split(',').map((s) => s.trim()) as MethodName[];
for (const m of methods) if (!Object.hasOwn(METHODS, m)) throw new Error(`unknown method '${m}'`);
const precisions = values.precisions.split(',').map((s) => s.trim()) as Precision[];
for (const p of precisions) if (!PRECISIONS.includes(p)) throw new Error(`unknown precision '${p}'`);

// AdamW has only fp32 state; it is the reference row, not part of the precision grid.
const specs: OptimizerSpec[] = parseOptimizerList(
  methods.flatMap((m) => (m === 'adamw' ? ['adamw'] : precisions.map((p) => `${m}:${p}`))).join(','),
);
const lrText = lrEntriesFor(values.lr ?? '', methods);
const lrs = resolveLrs(specs, lrText === '' ? new Map() : parseLrList(lrText, specs), DEFAULT_LR);

/**
 * Keeps the --lr entries of the methods being run, so that one pinned list (every method's lr) serves the
 * subset invocations of a resumed table too; the CLI's parser rejects names outside the run.
 */
function lrEntriesFor(text: string, run: readonly string[]): string {
  return text
    .split(',')
    .filter((item) => run.includes(item.split('=')[0].split(':')[0].trim().toLowerCase()))
    .join(',');
}

/** Everything a run's outcome depends on besides the code; a stored run is reused only if all of it matches. */
interface RunSettingsKey {
  label: string;
  lr: number;
  methodConfig: Readonly<Record<string, unknown>>;
  steps: number;
  batchSize: number;
  seed: number;
  evalEvery: number;
  backend: string;
  engine: string;
}

interface StoredRun {
  settings: RunSettingsKey;
  finishedAt: string;
  /** The code the run used: HEAD, and the source files that differed from it (an invocation may span commits). */
  code: { commit: string; modified: string[] };
  /** Load average (1 min) before and after the run: step times are only comparable at similar load. */
  loadAverage: [number, number];
  method: string;
  precision: string;
  optimizerConfig: Record<string, unknown>;
  engine: string;
  stepsDone: number;
  failure: { step: number; error: string } | null;
  final: RunRecord['final'];
  wallClockMs: number;
  optimizerStepMs: { median: number; p90: number };
  stateBytes: RunRecord['stateBytes'];
  /** Per-step minibatch loss, and the test evaluations: for comparing a variant with fp32 step by step. */
  loss: number[];
  evals: RunRecord['evals'];
}

interface ResultsFile {
  format: 'shampoo-ts/mnist-precision';
  version: 1;
  environment: Record<string, unknown>;
  runs: StoredRun[];
}

const keyOf = (s: RunSettingsKey) => JSON.stringify(s);

function codeVersion(): StoredRun['code'] {
  const git = (...args: string[]) => execFileSync('git', args, { encoding: 'utf8' });
  try {
    // Not trimmed: a porcelain line starts with its two status columns, the first often a space.
    const modified = git('status', '--porcelain', '--', 'src', 'bench/mnist-precision.ts')
      .split('\n')
      .filter(Boolean)
      .map((l) => l.slice(3));
    return { commit: git('rev-parse', 'HEAD').trim(), modified };
  } catch {
    return { commit: 'unknown', modified: [] };
  }
}

function settingsFor(spec: OptimizerSpec, lr: number): RunSettingsKey {
  return {
    label: spec.label,
    lr,
    methodConfig: configFor(spec),
    steps,
    batchSize,
    seed,
    evalEvery,
    backend,
    engine,
  };
}

function readResults(path: string): ResultsFile {
  if (!existsSync(path))
    return { format: 'shampoo-ts/mnist-precision', version: 1, environment: {}, runs: [] };
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as ResultsFile;
  if (parsed.format !== 'shampoo-ts/mnist-precision')
    throw new Error(`${path} is not a results file of this script`);
  return parsed;
}

/** Written to a temporary file and renamed, so an interruption never leaves a truncated JSON. */
function writeResults(path: string, results: ResultsFile): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(results, null, 1)}\n`);
  renameSync(`${path}.tmp`, path);
}

const finite = (x: number | null | undefined): x is number => typeof x === 'number' && Number.isFinite(x);
const fmt = (x: number | null | undefined, digits = 4) => (finite(x) ? x.toFixed(digits) : '—');
const pct = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(2)}%`;
const bytes = (n: number) => n.toLocaleString('en-US');

function table(runs: readonly StoredRun[]): string[] {
  const byLabel = new Map(runs.map((r) => [r.settings.label, r]));
  const lines = [
    '| method | precision | lr | train loss | test loss | test acc | test loss vs fp32 | within 2% | state bytes | median step ms |',
    '|---|---|---:|---:|---:|---:|---:|---|---:|---:|',
  ];
  for (const spec of specs) {
    const r = byLabel.get(spec.label);
    const title = METHODS[spec.method].title;
    const precision = spec.precision ?? 'fp32';
    if (!r) {
      lines.push(`| ${title} | ${precision} | | not run | | | | | | |`);
      continue;
    }
    const fp32 = spec.method === 'adamw' ? undefined : byLabel.get(`${spec.method}:fp32`);
    let rel = '';
    let verdict = '';
    if (r.failure) {
      verdict = `stopped at step ${r.failure.step}`;
    } else if (precision !== 'fp32' && fp32 && finite(fp32.final.testLoss) && finite(r.final.testLoss)) {
      const d = r.final.testLoss / fp32.final.testLoss - 1;
      rel = pct(d);
      const within = Math.abs(d) <= TOLERANCE;
      verdict = JUDGED.includes(precision as Precision)
        ? within
          ? 'pass'
          : '**FAIL**'
        : `(baseline: ${within ? 'within' : 'outside'})`;
    } else if (precision === 'fp32' && spec.method !== 'adamw') {
      verdict = 'reference';
    }
    lines.push(
      `| ${title} | ${precision} | ${r.settings.lr} | ${fmt(r.final.trainLoss)} | ${fmt(r.final.testLoss)} | ` +
        `${finite(r.final.testAccuracy) ? `${(100 * r.final.testAccuracy).toFixed(2)}%` : '—'} | ${rel} | ${verdict} | ` +
        `${bytes(r.stateBytes.total)} | ${fmt(r.optimizerStepMs.median, 1)} |`,
    );
  }
  const klSoap = byLabel.get('kl-soap:bf16');
  const klShampoo = byLabel.get('kl-shampoo:fp32');
  if (klSoap && klShampoo && finite(klSoap.final.testLoss) && finite(klShampoo.final.testLoss)) {
    lines.push(
      '',
      `KL-SOAP at bf16 against KL-Shampoo at fp32: test loss ${fmt(klSoap.final.testLoss)} vs ` +
        `${fmt(klShampoo.final.testLoss)} (${pct(klSoap.final.testLoss / klShampoo.final.testLoss - 1)}), ` +
        `train loss ${fmt(klSoap.final.trainLoss)} vs ${fmt(klShampoo.final.trainLoss)}, state ` +
        `${bytes(klSoap.stateBytes.total)} vs ${bytes(klShampoo.stateBytes.total)} bytes ` +
        `(${(klSoap.stateBytes.total / klShampoo.stateBytes.total).toFixed(2)}×).`,
    );
  }
  lines.push(
    '',
    `MLP 784-512-256-10, ${steps} steps, batch ${batchSize}, seed ${seed}, ${backend} backend, engine ${engine}` +
      `${Object.keys(extra).length > 0 ? `, --extra ${values.extra}` : ''}. ` +
      'Losses in nats; train loss/accuracy on the 8,000 training digits, test on the 2,000 held-out digits, both ' +
      `with the final weights. "within 2%": |test loss / same method's fp32 test loss − 1| ≤ ${100 * TOLERANCE}% ` +
      `(judged for ${JUDGED.join(' and ')}; the naive variants are baselines). Median step: applyGradients of ` +
      'the tfjs adapter (download, optimizer step, upload).',
  );
  return lines;
}

const results = readResults(values.out);
const wanted = specs.map((s, i) => settingsFor(s, lrs[i]));
const have = new Map(results.runs.map((r) => [keyOf(r.settings), r]));
const todo = specs
  .map((s, i) => ({ spec: s, lr: lrs[i], key: wanted[i] }))
  .filter((t) => !have.has(keyOf(t.key)));

if (!values['table-only'] && todo.length > 0) {
  preflight(
    todo.map((t) => t.spec),
    todo.map((t) => ({ lr: t.lr, engine, extra: configFor(t.spec) })),
  );
  const backendInfo = await useBackend(backend);
  const task = loadTask({ task: 'mnist-mlp', batchSize });
  results.environment = {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpu: cpus()[0]?.model ?? 'unknown',
    cpus: cpus().length,
    tfjsCore: tf.version_core,
    backend: backendInfo,
    data: task.describe(),
  };
  const done = specs.length - todo.length;
  console.log(
    `${todo.length} run(s) to do, ${done} already in ${values.out}; ${steps} steps, batch ${batchSize}, seed ${seed}`,
  );
  const progress = new LineProgress((line) => console.log(line));
  // Read once, before the first run: tsx has loaded the sources by now, so this is the code that runs.
  const code = codeVersion();
  for (const t of todo) {
    const loadBefore = loadavg()[0];
    const r = await runOne(
      task,
      {
        spec: t.spec,
        lr: t.lr,
        engine,
        extra: configFor(t.spec),
        steps,
        batchSize,
        seed,
        evalEvery,
      },
      progress,
    );
    const stored: StoredRun = {
      settings: t.key,
      finishedAt: new Date().toISOString(),
      code,
      loadAverage: [loadBefore, loadavg()[0]],
      method: r.method,
      precision: r.precision,
      optimizerConfig: r.config,
      engine: r.engine,
      stepsDone: r.stepsDone,
      failure: r.failure ?? null,
      final: r.final,
      wallClockMs: r.wallClockMs,
      optimizerStepMs: r.optimizerStepMs,
      stateBytes: r.stateBytes,
      loss: r.loss,
      evals: r.evals,
    };
    // Re-read so that runs written by an earlier invocation in the meantime are kept.
    const latest = readResults(values.out);
    latest.environment = results.environment;
    latest.runs = latest.runs.filter((x) => keyOf(x.settings) !== keyOf(t.key)).concat(stored);
    writeResults(values.out, latest);
    have.set(keyOf(t.key), stored);
    console.log(
      `  ${t.spec.label}: test loss ${fmt(r.final.testLoss)}, train loss ${fmt(r.final.trainLoss)}, ` +
        `${(r.wallClockMs / 1000).toFixed(0)} s, median step ${fmt(r.optimizerStepMs.median, 1)} ms`,
    );
  }
}

const current = wanted.map((k) => have.get(keyOf(k))).filter((r): r is StoredRun => r !== undefined);
console.log('');
for (const line of table(current)) console.log(line);
