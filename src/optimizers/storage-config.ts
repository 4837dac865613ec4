import { ConfigError } from '../errors.ts';
import type {
  CorrelationBits,
  MomentPrecision,
  Precision,
  ResolvedStorage,
  SubspaceSelection,
} from '../storage/precision.ts';
import { checkBoolean, checkInteger, checkOneOf, checkRange } from './config-checks.ts';

/**
 * How the methods that keep Kronecker factors (SOAP, KL-Shampoo, KL-SOAP) store their state, besides
 * `precision` itself. Each option only has an effect under the precisions named in its description.
 */
export interface StorageOptions {
  /** '4bit', '4bit-naive': Björck iterations applied to a dequantized basis before the factor is rebuilt from it. Integer ≥ 0, default 1. */
  rectT1?: number;
  /** '4bit', '4bit-naive': Björck iterations applied to a dequantized basis before it preconditions. Integer ≥ 0, default 4. */
  rectT2?: number;
  /**
   * '4bit', '4bit-naive': orthogonality tolerance of the Björck rectification, `max|VVᵀ − I|`. With 0 every
   * rectification runs exactly `max(rectT1, rectT2)` first-order steps (the 4-bit paper's fixed count); above 0
   * it stops as soon as the residual is measured or guaranteed (by a bound from the last Gram matrix) to be within
   * the tolerance, using second-order steps where they save work, and `max(rectT1, rectT2)` is the most steps
   * taken. In [0, 1e-3], default 1e-6 (about twice the float32 rounding floor of a rectified basis; two
   * second-order steps instead of four first-order ones at d = 1024, docs/storage.md §5.3).
   */
  rectTol?: number;
  /**
   * '4bit' (SOAP, KL-Shampoo, KL-SOAP): how much of the stored basis's own rounding a refresh carries into the
   * basis it re-quantizes. The refresh quantizes `(γ·D + (1 − γ)·Q̃)_π·W`, where Q̃ is the rectified basis, D the
   * decoded one it was rectified from, and W the refresh's rotation. With γ = 0 every refresh rounds the new
   * basis afresh, so the basis jitters by the full quantization error at every refresh even when W = I; with
   * γ = 1 an unchanged basis keeps its codes exactly, but the departures from orthogonality of successive
   * roundings add up. In [0, 1], default 0.5 (docs/storage.md §5.3).
   */
  requantCarry?: number;
  /**
   * '4bit' (SOAP, KL-Shampoo, KL-SOAP): bits per stored entry of the off-diagonal statistics accumulated between
   * refreshes (the correlation triangle), 4 (linear-square codes) or 8 (linear codes). They are re-quantized at
   * every step; at 4 bits that rounding is what separates 4-bit SOAP from fp32 on MNIST, at 8 bits it follows
   * fp32 (docs/storage.md §5.3). 8 adds d(d−1)/4 bytes per side. Default 4.
   */
  correlationBits?: CorrelationBits;
  /** '4bit', '4bit-naive': sides with fewer elements (d² < minLowbitSize) stay fp32. Integer ≥ 0, default 4096. */
  minLowbitSize?: number;
  /** '4bit', '4bit-naive': quantization block size (elements per fp32 absmax scale), one of 64…2048. Default 64. */
  quanBlocksize?: number;
  /**
   * 'bf16': basis vectors rotated per refresh, k = min(subspaceSize, d). Integer ≥ 1 or Infinity (full refresh),
   * default 1024: every side up to 1024 gets the full refresh, which keeps the run on fp32's trajectory; a
   * smaller k makes the refresh cheaper at a measured cost in accuracy (docs/storage.md §5.2, §5.10).
   */
  subspaceSize?: number;
  /** 'bf16': which basis vectors a refresh rotates. Default 'offdiag-energy'. */
  subspaceSelection?: SubspaceSelection;
  /**
   * Storage of the moments (first/second moment, momentum): 'auto' (default) stores a moment whose EMA decay
   * is ≤ 0.95 in bf16 under any precision but 'fp32', and in fp32 otherwise; 'fp32' and 'bf16' force it.
   */
  momentPrecision?: MomentPrecision;
  /** Stochastic rounding for the bf16 averages updated every step (moments, bf16 factor statistics). Default false. */
  stochasticRounding?: boolean;
}

export const STORAGE_KEYS = [
  'rectT1',
  'rectT2',
  'rectTol',
  'requantCarry',
  'correlationBits',
  'minLowbitSize',
  'quanBlocksize',
  'subspaceSize',
  'subspaceSelection',
  'momentPrecision',
  'stochasticRounding',
] as const;

export const BLOCK_SIZES: readonly number[] = [64, 128, 256, 512, 1024, 2048];

/** Default `subspaceSize`: the full refresh for every side of order ≤ 1024. */
export const DEFAULT_SUBSPACE_SIZE = 1024;

/** Validates the storage options and fills in their defaults. */
export function resolveStorage(c: Readonly<Record<string, unknown>>, precision: Precision): ResolvedStorage {
  const quanBlocksize = c.quanBlocksize ?? 64;
  if (!BLOCK_SIZES.includes(quanBlocksize as number)) {
    throw new ConfigError(
      'quanBlocksize',
      `must be one of ${BLOCK_SIZES.join(', ')}, got ${String(quanBlocksize)}`,
    );
  }
  return {
    precision,
    rectT1: checkInteger('rectT1', c.rectT1 ?? 1, 0),
    rectT2: checkInteger('rectT2', c.rectT2 ?? 4, 0),
    rectTol: checkRange('rectTol', c.rectTol ?? 1e-6, 0, 1e-3),
    requantCarry: checkRange('requantCarry', c.requantCarry ?? 0.5, 0, 1),
    correlationBits: checkCorrelationBits(c.correlationBits ?? 4),
    minLowbitSize: checkInteger('minLowbitSize', c.minLowbitSize ?? 4096, 0),
    quanBlocksize: quanBlocksize as number,
    subspaceSize: checkInteger('subspaceSize', c.subspaceSize ?? DEFAULT_SUBSPACE_SIZE, 1, true),
    subspaceSelection: checkOneOf('subspaceSelection', c.subspaceSelection ?? 'offdiag-energy', [
      'offdiag-energy',
      'round-robin',
      'top-k',
    ] as const),
    momentPrecision: checkOneOf('momentPrecision', c.momentPrecision ?? 'auto', [
      'auto',
      'fp32',
      'bf16',
    ] as const),
    stochasticRounding: checkBoolean('stochasticRounding', c.stochasticRounding ?? false),
  };
}

function checkCorrelationBits(value: unknown): CorrelationBits {
  if (value !== 4 && value !== 8)
    throw new ConfigError('correlationBits', `expected 4 or 8, got ${String(value)}`);
  return value;
}
