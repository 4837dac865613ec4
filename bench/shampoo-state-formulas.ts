// Analytic state sizes (bytes, by kind) of Shampoo (both variants) under each storage precision, written from
// the tables of docs/storage.md (Shampoo section) and independent of the optimizer's code: bench/memory.ts
// prints them beside `stateBytes()`, and test/shampoo-precision.test.ts asserts that both agree.
import type { StateKind } from '../src/optimizers/optimizer.ts';
import type { Bytes, StorageFormulaOptions } from './state-formulas.ts';

function add(into: Bytes, from: Bytes): Bytes {
  for (const [k, v] of Object.entries(from) as [StateKind, number][]) into[k] = (into[k] ?? 0) + v;
  return into;
}

const codes = (count: number) => Math.ceil(count / 2);

function isLowbit(d: number, o: StorageFormulaOptions): boolean {
  return d >= 2 && d * d >= (o.minLowbitSize ?? 4096);
}

/** Bytes of a d×d block-wise 4-bit matrix: codes (kind) and one fp32 scale per B-block of a row (scales). */
function quant4(d: number, kind: StateKind, o: StorageFormulaOptions): Bytes {
  const B = o.quanBlocksize ?? 64;
  return { [kind]: codes(d * d), scales: 4 * d * Math.ceil(d / B) };
}

/**
 * One factor of order d of the low-bit form (`variant: 'lowbit'`): eigenvectors Vt (kind 'factor'),
 * eigenvalues S, inverse root; the naive precisions hold the factor A itself instead of (Vt, S).
 */
export function lowbitFactorBytes(d: number, o: StorageFormulaOptions): Bytes {
  const lowbit = isLowbit(d, o);
  switch (o.precision) {
    case '4bit':
      if (!lowbit) break;
      // Vt 4-bit; S fp32; root DiagReal (codes + scales + fp32 diagonal)
      return add(add({ eigenvalues: 4 * d, root: 4 * d }, quant4(d, 'factor', o)), quant4(d, 'root', o));
    case 'bf16':
      // Vt bf16; S fp32; root fp32 diagonal + bf16 off-diagonal (a full square)
      return { factor: 2 * d * d, eigenvalues: 4 * d, root: 4 * d + 2 * d * d };
    case '4bit-naive':
      if (!lowbit) return { factor: 4 * d * d, root: 4 * d * d };
      // A DiagReal, root DiagReal
      return add(add({ factor: 4 * d, root: 4 * d }, quant4(d, 'factor', o)), quant4(d, 'root', o));
    case 'bf16-naive':
      return { factor: 2 * d * d, root: 2 * d * d };
    case 'fp32':
      break;
  }
  return { factor: 4 * d * d, eigenvalues: 4 * d, root: 4 * d * d };
}

/**
 * One factor of order d of the distributed form with rootInv (default) or eigendecomposed roots. The rotated
 * precisions ('bf16', '4bit') hold the factor as a basis (kind 'basis'), its diagonal σ (fp32) and off-diagonal
 * (bf16, or the 4-bit packed strict upper triangle of N = d(d−1)/2 correlations with one scale per B codes).
 */
export function distributedFactorBytes(
  d: number,
  o: StorageFormulaOptions,
  type: 'rootInv' | 'eigendecomposed' = 'rootInv',
): Bytes {
  const B = o.quanBlocksize ?? 64;
  const lowbit = isLowbit(d, o);
  const eig = type === 'eigendecomposed';
  const precision =
    (o.precision === '4bit' || o.precision === '4bit-naive') && !lowbit ? 'fp32' : o.precision;
  switch (precision) {
    case 'bf16': {
      const factor = { factor: 4 * d + 2 * d * d, basis: 2 * d * d };
      return add(factor, eig ? { eigenvalues: 4 * d } : { root: 4 * d + 2 * d * d });
    }
    case '4bit': {
      const N = (d * (d - 1)) / 2;
      const factor = add({ factor: 4 * d + codes(N), scales: 4 * Math.ceil(N / B) }, quant4(d, 'basis', o));
      return add(factor, eig ? { eigenvalues: 4 * d } : add({ root: 4 * d }, quant4(d, 'root', o)));
    }
    case 'bf16-naive':
      return eig
        ? { factor: 2 * d * d, basis: 2 * d * d, eigenvalues: 2 * d }
        : { factor: 2 * d * d, root: 2 * d * d };
    case '4bit-naive': {
      const factor = add({ factor: 4 * d }, quant4(d, 'factor', o));
      return add(
        factor,
        eig ? add({ eigenvalues: 4 * d }, quant4(d, 'basis', o)) : add({ root: 4 * d }, quant4(d, 'root', o)),
      );
    }
    default:
      return eig
        ? { factor: 4 * d * d, basis: 4 * d * d, eigenvalues: 4 * d }
        : { factor: 4 * d * d, root: 4 * d * d };
  }
}

function momentBytes(numel: number, beta: number, elementwise: boolean, o: StorageFormulaOptions): number {
  const mp = o.momentPrecision ?? 'auto';
  const bf16 = mp === 'bf16' || (mp === 'auto' && o.precision !== 'fp32' && elementwise && beta <= 0.95);
  return (bf16 ? 2 : 4) * numel;
}

/** Step counters (steps, skipped: f64×2), per-block failure counters (i32), the rounding counter (f64). */
function counters(blocks: number, o: StorageFormulaOptions): Bytes {
  return { counter: 16 + 4 * blocks + (o.stochasticRounding ? 8 : 0) };
}

/**
 * One 2-D m×n weight (one block: m, n ≤ the max order) under Shampoo's defaults: the low-bit form with
 * AdamW (β = 0.9, 0.999), or the distributed form with its default betas (0.9, 1: a filtered gradient, which
 * a dense root is applied to, so fp32 under 'auto') and optional Adam grafting (β2 = 0.999: fp32).
 */
export function shampooStateBytes(
  variant: 'lowbit' | 'distributed',
  m: number,
  n: number,
  o: StorageFormulaOptions,
  extra: { grafting?: boolean; type?: 'rootInv' | 'eigendecomposed' } = {},
): Bytes {
  const numel = m * n;
  const out: Bytes = counters(1, o);
  if (variant === 'lowbit') {
    for (const d of [m, n]) add(out, lowbitFactorBytes(d, o));
    return add(out, { moment: momentBytes(numel, 0.9, true, o) + momentBytes(numel, 0.999, true, o) });
  }
  for (const d of [m, n]) add(out, distributedFactorBytes(d, o, extra.type));
  add(out, { moment: momentBytes(numel, 0.9, false, o) });
  if (extra.grafting) add(out, { grafting: momentBytes(numel, 0.999, true, o) });
  return out;
}
