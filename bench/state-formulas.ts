// Analytic state sizes (bytes, by kind) of the methods under each storage precision, written from the
// formulas of docs/storage.md §5 and independent of the optimizers' code: bench/memory.ts prints them beside
// `stateBytes()`, and test/precision-methods.test.ts asserts that both agree.
import type { StateKind } from '../src/optimizers/optimizer.ts';

export type Bytes = Partial<Record<StateKind, number>>;

export interface StorageFormulaOptions {
  precision: 'fp32' | 'bf16' | '4bit' | 'bf16-naive' | '4bit-naive';
  minLowbitSize?: number;
  quanBlocksize?: number;
  correlationBits?: 4 | 8;
  momentPrecision?: 'auto' | 'fp32' | 'bf16';
  stochasticRounding?: boolean;
}

function add(into: Bytes, from: Bytes): Bytes {
  for (const [k, v] of Object.entries(from) as [StateKind, number][]) into[k] = (into[k] ?? 0) + v;
  return into;
}

export const total = (b: Bytes): number => Object.values(b).reduce((a, x) => a + (x ?? 0), 0);

/** Step counters of every optimizer (steps, skipped: f64×2) + the eigenbasis methods' failure count (f64). */
const ADAMW_COUNTERS = 16;
const EIGEN_COUNTERS = 16 + 8;

/** One d×d side of a Kronecker factor. */
export function sideBytes(d: number, o: StorageFormulaOptions): Bytes {
  const B = o.quanBlocksize ?? 64;
  const lowbit = d >= 2 && d * d >= (o.minLowbitSize ?? 4096);
  const codes = (count: number) => Math.ceil(count / 2);
  switch (o.precision) {
    case 'bf16':
      // Q (bf16), S's off-diagonal (bf16), σ (fp32), refresh counter (f64)
      return { basis: 2 * d * d, factor: 2 * d * d, eigenvalues: 4 * d, counter: 8 };
    case 'bf16-naive':
      return { factor: 2 * d * d, basis: 2 * d * d };
    case '4bit':
      if (lowbit) {
        // Qᵀ codes + one scale per B-block of each row; λ (fp32); the packed strict upper triangle of S's
        // off-diagonal (N = d(d−1)/2 codes of 4 or 8 bits, one scale per B of them).
        const N = (d * (d - 1)) / 2;
        return {
          basis: codes(d * d),
          scales: 4 * d * Math.ceil(d / B) + 4 * Math.ceil(N / B),
          eigenvalues: 4 * d,
          factor: o.correlationBits === 8 ? N : codes(N),
        };
      }
      break;
    case '4bit-naive':
      if (lowbit) {
        // factor: codes + fp32 diagonal (DiagReal); basis: codes; both with row-block scales
        return { factor: codes(d * d) + 4 * d, basis: codes(d * d), scales: 2 * 4 * d * Math.ceil(d / B) };
      }
      break;
    case 'fp32':
      break;
  }
  return { factor: 4 * d * d, basis: 4 * d * d };
}

function momentBytes(numel: number, beta: number, elementwise: boolean, o: StorageFormulaOptions): number {
  const mp = o.momentPrecision ?? 'auto';
  const bf16 = mp === 'bf16' || (mp === 'auto' && o.precision !== 'fp32' && elementwise && beta <= 0.95);
  return (bf16 ? 2 : 4) * numel;
}

/** A 2-D m×n weight with both sides preconditioned (SOAP and the KL methods alike). */
export function stateBytes(
  method: 'adamw' | 'soap' | 'kl-soap' | 'kl-shampoo',
  m: number,
  n: number,
  o: StorageFormulaOptions,
  betas: [number, number] = method === 'soap' ? [0.95, 0.95] : [0.9, 0.98],
): Bytes {
  const numel = m * n;
  if (method === 'adamw') return { moment: 8 * numel, counter: ADAMW_COUNTERS };
  const out: Bytes = { counter: EIGEN_COUNTERS + (o.stochasticRounding ? 8 : 0) };
  for (const d of [m, n]) {
    add(out, sideBytes(d, o));
    if (method !== 'soap') add(out, { eigenvalues: 4 * d }); // KL's inverse-sqrt estimates
  }
  const first = momentBytes(numel, betas[0], method !== 'kl-shampoo', o);
  const second = method === 'kl-shampoo' ? 0 : momentBytes(numel, betas[1], true, o);
  return add(out, { moment: first + second });
}
