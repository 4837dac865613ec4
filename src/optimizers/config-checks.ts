import { ConfigError } from '../errors.ts';

/** Validators for hyperparameters. Each throws a `ConfigError` naming the field and the allowed range. */

export function checkFinite(field: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ConfigError(field, `expected a finite number, got ${String(value)}`);
  }
  return value;
}

/** lo ≤ value ≤ hi (either bound may be open with `loOpen` / `hiOpen`). */
export function checkRange(
  field: string,
  value: unknown,
  lo: number,
  hi: number,
  { loOpen = false, hiOpen = false }: { loOpen?: boolean; hiOpen?: boolean } = {},
): number {
  const v = value;
  if (typeof v !== 'number' || Number.isNaN(v))
    throw new ConfigError(field, `expected a number, got ${String(value)}`);
  const okLo = loOpen ? v > lo : v >= lo;
  const okHi = hiOpen ? v < hi : v <= hi;
  if (!okLo || !okHi) {
    throw new ConfigError(
      field,
      `must be in ${loOpen ? '(' : '['}${lo}, ${hi}${hiOpen ? ')' : ']'}, got ${v}`,
    );
  }
  return v;
}

export function checkNonNegative(field: string, value: unknown): number {
  checkFinite(field, value);
  return checkRange(field, value, 0, Number.POSITIVE_INFINITY);
}

export function checkPositive(field: string, value: unknown): number {
  checkFinite(field, value);
  return checkRange(field, value, 0, Number.POSITIVE_INFINITY, { loOpen: true });
}

/** An integer ≥ min (Infinity allowed when `allowInfinity`). */
export function checkInteger(field: string, value: unknown, min: number, allowInfinity = false): number {
  if (allowInfinity && value === Number.POSITIVE_INFINITY) return value;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw new ConfigError(
      field,
      `expected an integer ≥ ${min}${allowInfinity ? ' or Infinity' : ''}, got ${String(value)}`,
    );
  }
  return value;
}

/** A probability-like coefficient in [0, 1). */
export function checkBeta(field: string, value: unknown, { allowOne = false } = {}): number {
  return checkRange(field, value, 0, 1, { hiOpen: !allowOne });
}

export function checkBetas(field: string, value: unknown, { allowOne2 = false } = {}): [number, number] {
  if (!Array.isArray(value) || value.length !== 2) {
    throw new ConfigError(field, `expected a pair [beta1, beta2], got ${JSON.stringify(value)}`);
  }
  return [checkBeta(`${field}[0]`, value[0]), checkBeta(`${field}[1]`, value[1], { allowOne: allowOne2 })];
}

export function checkBoolean(field: string, value: unknown): boolean {
  if (typeof value !== 'boolean') throw new ConfigError(field, `expected a boolean, got ${String(value)}`);
  return value;
}

export function checkOneOf<T extends string>(field: string, value: unknown, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new ConfigError(
      field,
      `expected one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${String(value)}`,
    );
  }
  return value as T;
}

/** Rejects keys the optimizer does not know (a typo would otherwise be silently ignored). */
export function checkKnownKeys(config: object, known: readonly string[]): void {
  for (const key of Object.keys(config)) {
    if (!known.includes(key)) throw new ConfigError(key, `unknown option (known: ${known.join(', ')})`);
  }
}
