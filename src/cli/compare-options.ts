import { existsSync, statSync } from 'node:fs';
import { BACKENDS, type BackendName } from './backend.ts';
import type { IdxPaths } from './data/idx-dataset.ts';
import {
  METHODS,
  type MethodName,
  type OptimizerSpec,
  parseLrList,
  parseOptimizerList,
  resolveLrs,
} from './optimizer-specs.ts';
import { MLP_HIDDEN } from './tasks/classification.ts';
import { TASKS, type TaskName } from './tasks/task.ts';
import { ENGINES, type EngineOption } from './train/optimizer-factory.ts';
import { UsageError } from './usage-error.ts';

/**
 * Default learning rate per method, used when --lr does not name the method.
 * How they were chosen: `scripts/tune-lr.ts` on the default task (mnist-mlp, 200 steps, batch 128, seed 1, wasm
 * backend, METHOD_CONFIG below) over 3e-4, 1e-3, 3e-3, 1e-2 for every method (extended to 3e-2 and 1e-1 where
 * 1e-2 was best), keeping the lr with the lowest final smoothed training loss — the quantity the comparison
 * is about. Every optimum was interior to the grid. Numbers: docs/cli.md.
 */
export const DEFAULT_LR: Readonly<Record<MethodName, number>> = {
  adamw: 3e-3,
  shampoo: 3e-3,
  soap: 3e-3,
  'kl-shampoo': 1e-2,
  'kl-soap': 1e-2,
};

/**
 * Hyperparameters the CLI sets besides the learning rate, per method; everything else is the method's default
 * (that of its reference implementation). Two for Shampoo, so that it is compared as it is meant to be used:
 * - `graftingConfig`: Distributed Shampoo's default is no grafting, which leaves the update unscaled: on the
 *   default task the loss did not move in 30 steps at lr 1e-3, while with Adam grafting (the configuration of
 *   its reference fixture: ε 1e-8, β2 0.999) it tracks AdamW. Grafting takes the step size from Adam.
 * - `preconditionFrequency`: its default 1 recomputes every inverse root at every step (about 5× the step
 *   time of the other methods here); 10 amortizes it like SOAP, KL-Shampoo and KL-SOAP do by default.
 */
export const METHOD_CONFIG: Readonly<Record<MethodName, Readonly<Record<string, unknown>>>> = {
  adamw: {},
  shampoo: { preconditionFrequency: 10, graftingConfig: { type: 'adam', epsilon: 1e-8, beta2: 0.999 } },
  soap: {},
  'kl-shampoo': {},
  'kl-soap': {},
};

/** Steps and batch size per task when not given; sized so the default comparison fits in 5 minutes on 2 cores. */
export const TASK_DEFAULTS: Readonly<Record<TaskName, { steps: number; batchSize: number }>> = {
  'mnist-mlp': { steps: 200, batchSize: 128 },
  idx: { steps: 200, batchSize: 128 },
  'char-lm': { steps: 80, batchSize: 16 },
};

/** Every method at fp32: the comparison run when --optimizers is not given. */
export const DEFAULT_OPTIMIZERS = Object.keys(METHODS).join(',');

/** Options as commander hands them over: strings, or undefined when not given. */
export interface RawCompareOptions {
  task?: string;
  optimizers?: string;
  lr?: string;
  steps?: string;
  batchSize?: string;
  seed?: string;
  out?: string;
  backend?: string;
  engine?: string;
  evalEvery?: string;
  trainSubset?: string;
  testSubset?: string;
  trainImages?: string;
  trainLabels?: string;
  testImages?: string;
  testLabels?: string;
  hidden?: string;
  plots?: boolean;
}

export interface CompareOptions {
  task: TaskName;
  optimizers: OptimizerSpec[];
  /** True when --optimizers was not given: methods this build lacks are skipped with a note, not an error. */
  optimizersDefaulted: boolean;
  lrs: number[];
  steps: number;
  batchSize: number;
  seed: number;
  out: string;
  backend: BackendName;
  engine: EngineOption;
  evalEvery: number;
  trainSubset?: number;
  testSubset?: number;
  idx?: IdxPaths;
  /** MLP hidden sizes (mnist-mlp and idx). */
  hidden: number[];
  plots: boolean;
}

/** A positive integer written in decimal digits only (no 1e3, no 0x10, no 12abc). */
export function parsePositiveInt(flag: string, text: string, max = 1e9): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed)) throw new UsageError(`${flag} must be a positive integer, got '${text}'`);
  const n = Number(trimmed);
  if (n < 1 || n > max) throw new UsageError(`${flag} must be between 1 and ${max}, got ${text}`);
  return n;
}

function oneOf<T extends string>(flag: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(`unknown ${flag.replace(/^--/, '')} '${value}' (known: ${allowed.join(', ')})`);
  }
  return value as T;
}

function existingFile(flag: string, path: string): string {
  if (!existsSync(path)) throw new UsageError(`${flag}: no such file: ${path}`);
  if (!statSync(path).isFile()) throw new UsageError(`${flag}: not a file: ${path}`);
  return path;
}

/** Validates everything that can be checked without loading data; throws UsageError with a one-line message. */
export function resolveCompareOptions(raw: RawCompareOptions): CompareOptions {
  const task = oneOf('--task', raw.task ?? 'mnist-mlp', TASKS);
  const optimizers = parseOptimizerList(raw.optimizers ?? DEFAULT_OPTIMIZERS);
  const overrides = raw.lr === undefined ? new Map<string, number>() : parseLrList(raw.lr, optimizers);
  const defaults = TASK_DEFAULTS[task];
  const steps = raw.steps === undefined ? defaults.steps : parsePositiveInt('--steps', raw.steps);
  const batchSize =
    raw.batchSize === undefined ? defaults.batchSize : parsePositiveInt('--batch-size', raw.batchSize);
  const seed = raw.seed === undefined ? 1 : parseSeed(raw.seed);
  const out = raw.out ?? 'results';
  if (out.trim() === '') throw new UsageError('--out must not be empty');
  if (existsSync(out) && !statSync(out).isDirectory())
    throw new UsageError(`--out: ${out} exists and is not a directory`);
  const backend = oneOf('--backend', raw.backend ?? 'wasm', BACKENDS);
  const engine = oneOf('--engine', raw.engine ?? 'auto', ENGINES);
  const evalEvery =
    raw.evalEvery === undefined
      ? Math.max(1, Math.round(steps / 10))
      : parsePositiveInt('--eval-every', raw.evalEvery);
  const idxFlags = {
    '--train-images': raw.trainImages,
    '--train-labels': raw.trainLabels,
    '--test-images': raw.testImages,
    '--test-labels': raw.testLabels,
  };
  let idx: IdxPaths | undefined;
  if (task === 'idx') {
    if (raw.trainImages === undefined || raw.trainLabels === undefined) {
      throw new UsageError('--task idx needs --train-images and --train-labels');
    }
    if ((raw.testImages === undefined) !== (raw.testLabels === undefined)) {
      throw new UsageError('give both --test-images and --test-labels, or neither');
    }
    for (const [flag, path] of Object.entries(idxFlags)) if (path !== undefined) existingFile(flag, path);
    idx = {
      trainImages: raw.trainImages,
      trainLabels: raw.trainLabels,
      ...(raw.testImages !== undefined ? { testImages: raw.testImages, testLabels: raw.testLabels } : {}),
    };
  } else {
    const given = Object.entries(idxFlags).find(([, v]) => v !== undefined);
    if (given) throw new UsageError(`${given[0]} is only used with --task idx`);
  }
  return {
    task,
    optimizers,
    optimizersDefaulted: raw.optimizers === undefined,
    lrs: resolveLrs(optimizers, overrides, DEFAULT_LR),
    steps,
    batchSize,
    seed,
    out,
    backend,
    engine,
    evalEvery,
    ...(raw.trainSubset !== undefined
      ? { trainSubset: parsePositiveInt('--train-subset', raw.trainSubset) }
      : {}),
    ...(raw.testSubset !== undefined
      ? { testSubset: parsePositiveInt('--test-subset', raw.testSubset) }
      : {}),
    ...(idx ? { idx } : {}),
    hidden: parseHidden(raw.hidden, task),
    plots: raw.plots !== false,
  };
}

/** `512,256` → [512, 256]; only for the MLP tasks. */
function parseHidden(text: string | undefined, task: TaskName): number[] {
  if (text === undefined) return [...MLP_HIDDEN];
  if (task === 'char-lm') throw new UsageError('--hidden is only used with the MLP tasks (mnist-mlp, idx)');
  const sizes = text.split(',').map((s) => parsePositiveInt('--hidden', s, 65536));
  if (sizes.length > 8) throw new UsageError(`--hidden allows at most 8 layers, got ${sizes.length}`);
  return sizes;
}

function parseSeed(text: string): number {
  const trimmed = text.trim();
  if (!/^\d+$/.test(trimmed) || Number(trimmed) > 2 ** 31 - 1) {
    throw new UsageError(`--seed must be an integer from 0 to ${2 ** 31 - 1}, got '${text}'`);
  }
  return Number(trimmed);
}
