import { CheckpointError } from '../errors.ts';

/** A value that survives the checkpoint header's JSON exactly. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/**
 * Converts a config (or user metadata) into JSON-safe form. JSON has no NaN or ±Infinity, and a config may
 * legitimately hold `Infinity` (e.g. "never"), so non-finite numbers become `{"$number": "Infinity"}`; keys
 * starting with `$` are reserved for such tags. `undefined` members are dropped, as JSON.stringify does.
 */
export function toJsonValue(value: unknown, path: string): JsonValue {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') {
    return Number.isFinite(value) ? value : { $number: String(value) };
  }
  if (Array.isArray(value)) return value.map((v, i) => toJsonValue(v ?? null, `${path}[${i}]`));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: { [key: string]: JsonValue } = {};
    for (const [k, v] of Object.entries(value)) {
      if (k.startsWith('$'))
        throw new CheckpointError('format', `${path}.${k}: keys starting with '$' are reserved`);
      if (v !== undefined) out[k] = toJsonValue(v, `${path}.${k}`);
    }
    return out;
  }
  throw new CheckpointError('format', `${path}: a ${typeof value} cannot be stored in a checkpoint header`);
}

/** Inverse of `toJsonValue`. */
export function fromJsonValue(value: JsonValue): unknown {
  if (Array.isArray(value)) return value.map(fromJsonValue);
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$number') {
      const s = value.$number;
      if (s === 'Infinity') return Number.POSITIVE_INFINITY;
      if (s === '-Infinity') return Number.NEGATIVE_INFINITY;
      if (s === 'NaN') return Number.NaN;
      throw new CheckpointError('format', `unknown number tag ${JSON.stringify(s)}`);
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = fromJsonValue(value[k]);
    return out;
  }
  return value;
}
