import { ConfigError } from '../errors.ts';
import type { EngineChoice } from '../kernels/index.ts';
import { PRECISIONS, type Precision } from '../storage/precision.ts';
import { checkBoolean, checkKnownKeys, checkOneOf } from './config-checks.ts';
import type { CommonOptions, NonFinitePolicy } from './optimizer.ts';

export type { Precision } from '../storage/precision.ts';

/** Options every method in this package accepts besides its hyperparameters. */
export interface SharedOptions extends CommonOptions {
  /**
   * Storage precision of the optimizer state (see `Precision`; default 'fp32'). Each method accepts the
   * precisions it implements; any other is a ConfigError naming `precision`.
   */
  precision?: Precision;
}

/** How an optimizer runs, as opposed to what it computes: not part of the config a method reports. */
export const RUNTIME_KEYS = ['engine', 'allowRelaxedSimd', 'nonFinite'] as const;

export const SHARED_KEYS = [...RUNTIME_KEYS, 'precision'] as const;

export interface ResolvedShared<P extends Precision = 'fp32'> {
  engine: EngineChoice;
  allowRelaxedSimd?: boolean;
  nonFinite: NonFinitePolicy;
  precision: P;
}

const ENGINES: readonly EngineChoice[] = ['auto', 'typescript', 'wasm-simd', 'wasm-relaxed-simd'];
const NON_FINITE: readonly NonFinitePolicy[] = ['throw', 'skip'];

/**
 * Validates the shared options and returns them with defaults filled in. `supported` lists the precisions
 * the method implements (default: fp32 only).
 */
export function resolveShared<P extends Precision = 'fp32'>(
  config: SharedOptions,
  supported: readonly P[] = ['fp32' as P],
): ResolvedShared<P> {
  const engine = checkOneOf('engine', config.engine ?? 'auto', ENGINES);
  const allowRelaxedSimd =
    config.allowRelaxedSimd === undefined
      ? undefined
      : checkBoolean('allowRelaxedSimd', config.allowRelaxedSimd);
  const nonFinite = checkOneOf('nonFinite', config.nonFinite ?? 'throw', NON_FINITE);
  const precision = (config.precision ?? 'fp32') as P;
  if (!supported.includes(precision)) {
    const known = PRECISIONS.includes(precision) ? 'not implemented for this method; ' : '';
    throw new ConfigError(
      'precision',
      `${known}expected one of ${supported.map((p) => `'${p}'`).join(', ')}, got ${String(precision)}`,
    );
  }
  return { engine, allowRelaxedSimd, nonFinite, precision };
}

/**
 * Reads a value that may be given under either of two names (methods spell one concept differently, e.g.
 * `eps`/`epsilon`). Giving both is an error, so a typo cannot silently pick one.
 */
export function readAliased(
  config: Readonly<Record<string, unknown>>,
  name: string,
  alias: string,
  fallback: unknown,
): unknown {
  const hasName = config[name] !== undefined;
  const hasAlias = config[alias] !== undefined;
  if (hasName && hasAlias)
    throw new ConfigError(alias, `'${name}' and '${alias}' are the same option; give one`);
  if (hasName) return config[name];
  if (hasAlias) return config[alias];
  return fallback;
}

/** Rejects non-object configs and unknown keys (hyperparameters plus the shared options). */
export function checkConfigObject(config: unknown, known: readonly string[]): Record<string, unknown> {
  if (config === undefined) return {};
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new ConfigError('config', `expected an object, got ${JSON.stringify(config)}`);
  }
  checkKnownKeys(config, [...known, ...SHARED_KEYS]);
  return config as Record<string, unknown>;
}
