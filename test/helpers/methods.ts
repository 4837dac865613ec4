import { ConfigError } from '../../src/errors.ts';
import type { Optimizer, Param } from '../../src/optimizers/optimizer.ts';

/** An optimizer method as the generic tests (checkpoints, tfjs adapter) see it. */
export interface MethodCase {
  /** Distinguishes several cases of one class (e.g. Shampoo's variants). */
  label: string;
  /** Module under src/optimizers and its exported class. */
  file: string;
  className: string;
  /** Small, test-friendly hyperparameters (frequent preconditioner refreshes). */
  config: Record<string, unknown>;
  create(params: readonly Param[], config?: Record<string, unknown>): Optimizer;
}

type OptimizerClass = new (params: readonly Param[], config?: Record<string, unknown>) => Optimizer;

const CANDIDATES: Omit<MethodCase, 'create'>[] = [
  { label: 'AdamW', file: 'adamw.ts', className: 'AdamW', config: { lr: 1e-2 } },
  { label: 'SOAP', file: 'soap.ts', className: 'SOAP', config: { lr: 1e-2, preconditionFrequency: 2 } },
  {
    label: 'Shampoo',
    file: 'shampoo.ts',
    className: 'Shampoo',
    // Adam grafting bounds the step; without it, ε = 1e-12 on a factor of rank 2 makes early steps huge.
    config: {
      lr: 1e-2,
      preconditionFrequency: 2,
      startPreconditioningStep: 2,
      graftingConfig: { type: 'adam', beta2: 0.999, epsilon: 1e-8 },
    },
  },
  {
    label: 'Shampoo lowbit',
    file: 'shampoo.ts',
    className: 'Shampoo',
    config: { variant: 'lowbit', lr: 1e-2, startPrecStep: 2, statComputeSteps: 2, precComputeSteps: 2 },
  },
  {
    label: 'KLShampoo',
    file: 'kl-shampoo.ts',
    className: 'KLShampoo',
    config: { lr: 1e-2, preconditionFrequency: 2 },
  },
  {
    label: 'KLSOAP',
    file: 'kl-soap.ts',
    className: 'KLSOAP',
    config: { lr: 1e-2, preconditionFrequency: 2 },
  },
];

export const PRECISIONS = ['fp32', 'bf16', '4bit'] as const;

/**
 * The methods whose modules exist in src/optimizers. A module that is absent is skipped; one that exists but
 * fails to load is an error (a broken optimizer must not silently drop out of the tests).
 */
export async function availableMethods(): Promise<MethodCase[]> {
  const found: MethodCase[] = [];
  for (const c of CANDIDATES) {
    const url = new URL(`../../src/optimizers/${c.file}`, import.meta.url);
    let mod: Record<string, unknown>;
    try {
      mod = await import(url.href);
    } catch (e) {
      const err = e as { code?: string; message?: string };
      if (err.code === 'ERR_MODULE_NOT_FOUND' && err.message?.includes(c.file)) continue;
      throw e;
    }
    const cls = mod[c.className] as OptimizerClass | undefined;
    if (typeof cls !== 'function') throw new Error(`src/optimizers/${c.file} does not export ${c.className}`);
    found.push({ ...c, create: (params, config = {}) => new cls(params, { ...c.config, ...config }) });
  }
  return found;
}

/** The precisions a method accepts (a ConfigError on `precision` means: not implemented for it yet). */
export function supportedPrecisions(m: MethodCase, params: readonly Param[]): string[] {
  return PRECISIONS.filter((precision) => {
    try {
      m.create(params, { precision });
      return true;
    } catch (e) {
      if (e instanceof ConfigError && e.field === 'precision') return false;
      throw e;
    }
  });
}
