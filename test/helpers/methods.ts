import { ConfigError } from '../../src/errors.ts';
import type { Optimizer, Param } from '../../src/optimizers/optimizer.ts';

/** An optimizer method as the generic tests (checkpoints, tfjs adapter) see it. */
export interface MethodCase {
  /** Module under src/optimizers and its exported class. */
  file: string;
  className: string;
  /** Small, test-friendly hyperparameters (frequent preconditioner refreshes). */
  config: Record<string, unknown>;
  create(params: readonly Param[], config?: Record<string, unknown>): Optimizer;
}

type OptimizerClass = new (params: readonly Param[], config?: Record<string, unknown>) => Optimizer;

const CANDIDATES: Omit<MethodCase, 'create'>[] = [
  { file: 'adamw.ts', className: 'AdamW', config: { lr: 1e-2 } },
  { file: 'soap.ts', className: 'SOAP', config: { lr: 1e-2, preconditionFrequency: 2 } },
  {
    file: 'shampoo.ts',
    className: 'Shampoo',
    config: { lr: 1e-2, preconditionFrequency: 2, startPreconditioningStep: 2 },
  },
  { file: 'kl-shampoo.ts', className: 'KLShampoo', config: { lr: 1e-2, preconditionFrequency: 2 } },
  { file: 'kl-soap.ts', className: 'KLSOAP', config: { lr: 1e-2, preconditionFrequency: 2 } },
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
