import type * as tf from '@tensorflow/tfjs-core';
import { ShampooError } from '../../errors.ts';
import type { Optimizer } from '../../optimizers/optimizer.ts';
import * as adapter from '../../tfjs/index.ts';
import { METHODS, type OptimizerSpec } from '../optimizer-specs.ts';
import { UsageError } from '../usage-error.ts';

export const ENGINES = ['auto', 'typescript', 'wasm-simd', 'wasm-relaxed-simd'] as const;
export type EngineOption = (typeof ENGINES)[number];

/** What the CLI needs of a tfjs-adapter optimizer: the tf.Optimizer API plus the core it wraps. */
export interface AdapterOptimizer extends tf.Optimizer {
  readonly config: Readonly<Record<string, unknown>>;
  readonly coreOptimizer: Optimizer | null;
}

type Factory = (config: Record<string, unknown>) => AdapterOptimizer;

/**
 * The adapter's factories, looked up by name at run time: a method the library does not provide is
 * reported as unavailable by name instead of breaking the whole CLI.
 */
const factories: Readonly<Record<string, unknown>> = { ...adapter };

export function isAvailable(spec: Pick<OptimizerSpec, 'method'>): boolean {
  return typeof factories[METHODS[spec.method].factory] === 'function';
}

export interface OptimizerSettings {
  lr: number;
  engine: EngineOption;
  /** Hyperparameters the CLI sets besides lr (see METHOD_CONFIG). */
  extra?: Readonly<Record<string, unknown>>;
}

/**
 * Builds the tfjs optimizer for `spec` with the adapter of `shampoo-ts/tfjs`. Only `lr`, `engine`, `extra`
 * and (if given) `precision` are set; every other hyperparameter keeps the method's default, which is that of
 * its reference implementation. The resolved config must report the precision asked for: an optimizer that
 * ignored it would silently turn a 4-bit run into an fp32 one. Throws UsageError naming the optimizer.
 */
export function createOptimizer(spec: OptimizerSpec, settings: OptimizerSettings): AdapterOptimizer {
  const { factory, title } = METHODS[spec.method];
  const make = factories[factory];
  if (typeof make !== 'function') {
    throw new UsageError(
      `optimizer '${spec.label}' is not available: this build of shampoo-ts does not implement ${title} yet`,
    );
  }
  const config: Record<string, unknown> = { ...settings.extra, lr: settings.lr, engine: settings.engine };
  if (spec.precision !== undefined) config.precision = spec.precision;
  let opt: AdapterOptimizer;
  try {
    opt = (make as Factory)(config);
  } catch (e) {
    if (!(e instanceof ShampooError)) throw e;
    if ((e as { field?: string }).field === 'precision') {
      throw new UsageError(
        `optimizer '${spec.label}' is not available: ${title} does not support precision '${spec.precision}' in this build (${e.message})`,
      );
    }
    throw new UsageError(`cannot create optimizer '${spec.label}': ${e.message}`);
  }
  const resolved = opt.config.precision ?? 'fp32';
  if (resolved !== (spec.precision ?? 'fp32')) {
    opt.dispose();
    throw new UsageError(
      `optimizer '${spec.label}' is not available: ${title} was asked for precision '${spec.precision}' but reports '${String(resolved)}'`,
    );
  }
  return opt;
}

/**
 * Builds every optimizer once before any training starts (the adapter validates its config on
 * construction), so an unavailable method, precision or engine fails in the first second rather than after
 * the earlier runs. All problems are reported together.
 */
export function preflight(specs: readonly OptimizerSpec[], settings: readonly OptimizerSettings[]): void {
  const problems: string[] = [];
  specs.forEach((spec, i) => {
    try {
      createOptimizer(spec, settings[i]).dispose();
    } catch (e) {
      if (e instanceof UsageError) problems.push(e.message);
      else throw e;
    }
  });
  if (problems.length > 0) throw new UsageError(problems.join('\n'));
}
