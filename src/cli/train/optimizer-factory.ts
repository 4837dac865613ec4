import { ShampooError } from '../../errors.ts';
import * as library from '../../index.ts';
import type { Optimizer, Param } from '../../optimizers/optimizer.ts';
import { METHODS, type OptimizerSpec } from '../optimizer-specs.ts';
import { CliRunError } from '../usage-error.ts';

export const ENGINES = ['auto', 'typescript', 'wasm-simd', 'wasm-relaxed-simd'] as const;
export type EngineOption = (typeof ENGINES)[number];

type OptimizerClass = new (params: readonly Param[], config: Record<string, unknown>) => Optimizer;

/**
 * The library's exports, looked up by name at run time: a method whose class the library does not export yet
 * is reported as unavailable by name rather than breaking the whole CLI.
 */
const exported: Readonly<Record<string, unknown>> = { ...library };

export function isAvailable(spec: Pick<OptimizerSpec, 'method'>): boolean {
  return typeof exported[METHODS[spec.method].exportName] === 'function';
}

function optimizerClass(spec: OptimizerSpec): OptimizerClass {
  const { exportName, title } = METHODS[spec.method];
  const ctor = exported[exportName];
  if (typeof ctor !== 'function') {
    throw new CliRunError(
      `optimizer '${spec.label}' is not available: this build of shampoo-ts does not implement ${title} yet (no '${exportName}' export)`,
    );
  }
  return ctor as OptimizerClass;
}

export interface OptimizerSettings {
  lr: number;
  engine: EngineOption;
}

/**
 * Constructs the optimizer for `spec`. Only `lr`, `engine` and (if given) `precision` are set; every other
 * hyperparameter keeps the method's own default, which is that of its reference implementation. The resolved
 * config must report the precision that was asked for: an optimizer that silently ignored it would turn a
 * 4-bit run into an fp32 one.
 */
export function createOptimizer(
  spec: OptimizerSpec,
  params: readonly Param[],
  settings: OptimizerSettings,
): Optimizer {
  const Ctor = optimizerClass(spec);
  const config: Record<string, unknown> = { lr: settings.lr, engine: settings.engine };
  if (spec.precision !== undefined) config.precision = spec.precision;
  let opt: Optimizer;
  try {
    opt = new Ctor(params, config);
  } catch (e) {
    if (e instanceof ShampooError) {
      const field = (e as { field?: string }).field;
      if (field === 'precision') {
        throw new CliRunError(
          `optimizer '${spec.label}' is not available: ${METHODS[spec.method].title} does not support precision '${spec.precision}' in this build (${e.message})`,
        );
      }
      throw new CliRunError(`cannot create optimizer '${spec.label}': ${e.message}`);
    }
    throw e;
  }
  const resolved = opt.config.precision;
  if (spec.precision !== undefined && resolved !== spec.precision) {
    throw new CliRunError(
      `optimizer '${spec.label}' is not available: ${METHODS[spec.method].title} was asked for precision '${spec.precision}' but reports '${String(resolved)}'`,
    );
  }
  return opt;
}

/**
 * Builds every optimizer once on a small stand-in model before any training starts, so an unavailable method,
 * precision or engine fails in the first second instead of after the earlier runs.
 */
export function preflight(specs: readonly OptimizerSpec[], settings: readonly OptimizerSettings[]): void {
  const problems: string[] = [];
  specs.forEach((spec, i) => {
    const params: Param[] = [
      { data: new Float32Array(6 * 4), shape: [6, 4], name: 'w' },
      { data: new Float32Array(4), shape: [4], name: 'b' },
    ];
    try {
      createOptimizer(spec, params, settings[i]);
    } catch (e) {
      if (e instanceof CliRunError) problems.push(e.message);
      else if (e instanceof ShampooError) problems.push(`optimizer '${spec.label}': ${e.message}`);
      else throw e;
    }
  });
  if (problems.length > 0) throw new CliRunError(problems.join('\n'));
}
