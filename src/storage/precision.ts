/**
 * Storage precisions of the optimizer state and the options that shape them. Shared by every method that
 * keeps Kronecker factors (the factor stores of this directory implement them).
 */

/**
 * - `'fp32'`: everything float32 (the reference).
 * - `'bf16'`: the rotated-factor reparametrization (ALGORITHMS.md §6.2): per side the basis Q and the
 *   off-diagonal of the rotated factor `S = QᵀLQ` in bf16, its diagonal in fp32, refreshed by subspace QR.
 * - `'4bit'`: eigen-parametrized factors (ALGORITHMS.md §5): the eigenvector matrix 4-bit quantized and
 *   Björck-rectified, serving as the factor's eigenvectors and as the basis; eigenvalues fp32.
 * - `'bf16-naive'`: factor and basis stored densely in bf16 (a baseline).
 * - `'4bit-naive'`: the factor itself 4-bit quantized (fp32 diagonal), basis 4-bit (a baseline).
 */
export type Precision = 'fp32' | 'bf16' | '4bit' | 'bf16-naive' | '4bit-naive';

export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16', '4bit', 'bf16-naive', '4bit-naive'];

/** How the subspace refresh of the `'bf16'` store picks the basis vectors it rotates. */
export type SubspaceSelection = 'offdiag-energy' | 'round-robin' | 'top-k';

/**
 * Storage of the moments: `'auto'` = bf16 for a moment that is safe in bf16 (see `momentInBf16`) under any
 * precision but 'fp32', fp32 otherwise; `'fp32'` and `'bf16'` force one for every moment.
 */
export type MomentPrecision = 'auto' | 'fp32' | 'bf16';

/** Bits per stored entry of the '4bit' stores' off-diagonal statistics (the correlation triangle). */
export type CorrelationBits = 4 | 8;

/** Largest EMA decay whose bf16 storage is considered safe (`'auto'` moments). */
export const BF16_SAFE_BETA = 0.95;

/** Storage options after validation (see `StorageOptions` in src/optimizers/storage-config.ts). */
export interface ResolvedStorage {
  precision: Precision;
  rectT1: number;
  rectT2: number;
  rectTol: number;
  requantCarry: number;
  correlationBits: CorrelationBits;
  minLowbitSize: number;
  quanBlocksize: number;
  subspaceSize: number;
  subspaceSelection: SubspaceSelection;
  momentPrecision: MomentPrecision;
  stochasticRounding: boolean;
}

/**
 * Whether a moment with EMA decay `beta` is stored in bf16. Under 'auto' a moment is safe when
 * - its decay is ≤ 0.95: the EMA increment (≥ 5%) is well above half a bf16 ulp (0.2%), so the average still
 *   moves (at β = 0.999 it would be frozen, ALGORITHMS.md P6), and
 * - it is held per coordinate of the space it is used in (`elementwise`): Adam's moments in the eigenbasis
 *   or in parameter space. A moment that a dense preconditioner is applied to afterwards (KL-Shampoo's momentum
 *   in parameter space, rotated and scaled by up to sqrt(κ_L·κ_R)) is not: its rounding error of 0.4% of the
 *   large components leaks into the weak directions and is amplified there (measured in docs/storage.md).
 */
export function momentInBf16(
  s: Pick<ResolvedStorage, 'precision' | 'momentPrecision'>,
  beta: number,
  elementwise: boolean,
): boolean {
  if (s.momentPrecision === 'bf16') return true;
  if (s.momentPrecision === 'fp32') return false;
  return s.precision !== 'fp32' && elementwise && beta <= BF16_SAFE_BETA;
}

/** Whether a d×d side is stored in 4 bits under a 4-bit precision (smaller ones stay fp32, as the 4-bit paper). */
export function isLowbitSide(s: Pick<ResolvedStorage, 'minLowbitSize'>, d: number): boolean {
  return d >= 2 && d * d >= s.minLowbitSize;
}
