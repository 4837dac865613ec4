import { ConfigError } from '../errors.ts';
import type { EngineChoice } from '../kernels/index.ts';
import { checkBoolean, checkKnownKeys, checkOneOf } from './config-checks.ts';
import type { CommonOptions, NonFinitePolicy } from './optimizer.ts';

/** How optimizer state (factors, bases, moments) is stored. Only fp32 exists so far. */
export type Precision = 'fp32';

/** Options every method in this package accepts besides its hyperparameters. */
export interface SharedOptions extends CommonOptions {
  /** Storage precision of the optimizer state. Only `'fp32'` is implemented; anything else is a ConfigError. */
  precision?: Precision;
}

export const SHARED_KEYS = ['engine', 'allowRelaxedSimd', 'nonFinite', 'precision'] as const;

export interface ResolvedShared {
  engine: EngineChoice;
  allowRelaxedSimd?: boolean;
  nonFinite: NonFinitePolicy;
  precision: Precision;
}

const ENGINES: readonly EngineChoice[] = ['auto', 'typescript', 'wasm-simd', 'wasm-relaxed-simd'];
const NON_FINITE: readonly NonFinitePolicy[] = ['throw', 'skip'];

/** Validates the shared options and returns them with defaults filled in. */
export function resolveShared(config: SharedOptions): ResolvedShared {
  const engine = checkOneOf('engine', config.engine ?? 'auto', ENGINES);
  const allowRelaxedSimd =
    config.allowRelaxedSimd === undefined
      ? undefined
      : checkBoolean('allowRelaxedSimd', config.allowRelaxedSimd);
  const nonFinite = checkOneOf('nonFinite', config.nonFinite ?? 'throw', NON_FINITE);
  const precision = config.precision ?? 'fp32';
  if (precision !== 'fp32') {
    throw new ConfigError('precision', `only 'fp32' is implemented, got ${String(precision)}`);
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
