import type { serialization } from '@tensorflow/tfjs-core';
import { ConfigError } from '../errors.ts';

type ConfigDict = serialization.ConfigDict;
type ConfigDictValue = serialization.ConfigDictValue;

/*
 * tfjs stores an optimizer's `getConfig()` in model.json and, on load, passes it through tfjs-layers'
 * `convertPythonicToTs`, which camel-cases every key AND every string value containing '_'
 * (`'channels_first'` → `'channelsFirst'`), and JSON drops NaN and ±Infinity. So strings and keys are escaped
 * ('%' → '%25', '_' → '%5F') and non-finite numbers become the tags '%Infinity', '%-Infinity', '%NaN', which
 * an escaped string can never equal. The config stays readable in model.json.
 */

const escapeText = (s: string) => s.replace(/%/g, '%25').replace(/_/g, '%5F');
const unescapeText = (s: string) => s.replace(/%(25|5F)/g, (_m, code: string) => (code === '25' ? '%' : '_'));

const TAGS: Record<string, number> = {
  '%Infinity': Number.POSITIVE_INFINITY,
  '%-Infinity': Number.NEGATIVE_INFINITY,
  '%NaN': Number.NaN,
};

function encodeValue(value: unknown, path: string): ConfigDictValue {
  if (value === null || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : `%${String(value)}`;
  if (typeof value === 'string') return escapeText(value);
  if (Array.isArray(value)) return value.map((v, i) => encodeValue(v ?? null, `${path}[${i}]`));
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const out: ConfigDict = {};
    for (const [k, v] of Object.entries(value))
      if (v !== undefined) out[escapeText(k)] = encodeValue(v, `${path}.${k}`);
    return out;
  }
  throw new ConfigError(path, `a ${typeof value} cannot be stored in a tfjs optimizer config`);
}

function decodeValue(value: ConfigDictValue): unknown {
  if (typeof value === 'string') return Object.hasOwn(TAGS, value) ? TAGS[value] : unescapeText(value);
  if (Array.isArray(value)) return value.map(decodeValue);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[unescapeText(k)] = decodeValue(v);
    return out;
  }
  return value;
}

/** A core config as a tfjs `ConfigDict` that survives model.json and tfjs-layers' key conversion. */
export function encodeTfjsConfig(config: Readonly<Record<string, unknown>>): ConfigDict {
  return encodeValue(config, 'config') as ConfigDict;
}

/** Inverse of `encodeTfjsConfig`. */
export function decodeTfjsConfig(config: ConfigDict): Record<string, unknown> {
  return decodeValue(config) as Record<string, unknown>;
}
