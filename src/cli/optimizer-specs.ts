import { UsageError } from './usage-error.ts';

/**
 * The methods the CLI knows, by their command-line name, with the factory of the tfjs adapter
 * (`shampoo-ts/tfjs`) that builds each as a `tf.Optimizer`.
 */
export const METHODS = {
  adamw: { factory: 'adamw', title: 'AdamW' },
  shampoo: { factory: 'shampoo', title: 'Shampoo' },
  soap: { factory: 'soap', title: 'SOAP' },
  'kl-shampoo': { factory: 'klShampoo', title: 'KL-Shampoo' },
  'kl-soap': { factory: 'klSoap', title: 'KL-SOAP' },
} as const;

export type MethodName = keyof typeof METHODS;

export const PRECISIONS = ['fp32', 'bf16', '4bit', 'bf16-naive', '4bit-naive'] as const;
export type Precision = (typeof PRECISIONS)[number];

export interface OptimizerSpec {
  /** As written on the command line, normalized: `soap`, `soap:4bit`. Unique within a run. */
  label: string;
  method: MethodName;
  /** Absent means the optimizer's own default (fp32). */
  precision?: Precision;
}

function isMethod(s: string): s is MethodName {
  return Object.hasOwn(METHODS, s);
}

function isPrecision(s: string): s is Precision {
  return (PRECISIONS as readonly string[]).includes(s);
}

/** Parses `adamw,soap,soap:4bit,kl-soap:bf16`. */
export function parseOptimizerList(text: string): OptimizerSpec[] {
  const items = text.split(',').map((s) => s.trim());
  if (items.length === 0 || items.every((s) => s === '')) throw new UsageError('--optimizers is empty');
  const specs: OptimizerSpec[] = [];
  for (const item of items) {
    if (item === '') throw new UsageError(`--optimizers '${text}' has an empty entry`);
    const parts = item.toLowerCase().split(':');
    if (parts.length > 2) throw new UsageError(`optimizer '${item}' is not of the form method[:precision]`);
    const [method, precision] = parts;
    if (!isMethod(method)) {
      throw new UsageError(`unknown optimizer '${method}' (known: ${Object.keys(METHODS).join(', ')})`);
    }
    if (precision !== undefined && !isPrecision(precision)) {
      throw new UsageError(`unknown precision '${precision}' in '${item}' (known: ${PRECISIONS.join(', ')})`);
    }
    const label = precision === undefined ? method : `${method}:${precision}`;
    if (specs.some((s) => s.label === label)) throw new UsageError(`optimizer '${label}' is listed twice`);
    specs.push(precision === undefined ? { label, method } : { label, method, precision });
  }
  return specs;
}

/**
 * Parses `soap=3e-3,adamw=1e-3`. A key is a method (applies to all its precisions) or a full label
 * (`soap:4bit`, which wins over `soap`). Every key must match an optimizer of the run, so a typo cannot
 * silently leave a default in place.
 */
export function parseLrList(text: string, specs: readonly OptimizerSpec[]): Map<string, number> {
  const byKey = new Map<string, number>();
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) {
      throw new UsageError(`--lr entry '${item}' is not of the form name=value (e.g. soap=3e-3)`);
    }
    const key = item.slice(0, eq).trim().toLowerCase();
    const valueText = item.slice(eq + 1).trim();
    const value = Number(valueText);
    if (valueText === '' || !Number.isFinite(value) || value <= 0) {
      throw new UsageError(`--lr value for '${key}' must be a positive number, got '${valueText}'`);
    }
    if (!specs.some((s) => s.label === key || s.method === key)) {
      throw new UsageError(
        `--lr names '${key}', which is not among --optimizers (${specs.map((s) => s.label).join(', ')})`,
      );
    }
    if (byKey.has(key)) throw new UsageError(`--lr sets '${key}' twice`);
    byKey.set(key, value);
  }
  return byKey;
}

/** The learning rate for each spec: the exact label, else the method, else the method's default. */
export function resolveLrs(
  specs: readonly OptimizerSpec[],
  overrides: ReadonlyMap<string, number>,
  defaults: Readonly<Record<MethodName, number>>,
): number[] {
  return specs.map((s) => overrides.get(s.label) ?? overrides.get(s.method) ?? defaults[s.method]);
}
