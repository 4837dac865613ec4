import type { F32Buffer, Kernels } from '../kernels/index.ts';
import { type ModeShape, modePermute, modeProduct } from './mode-products.ts';

/**
 * Moving per-coordinate state from one basis to another along one mode, through the transition matrix
 * `C = Q_newᵀ·Q_old` (entry (i, j) = q_new,i · q_old,j):
 * - a first moment moves exactly: `m ← C·m`;
 * - a second moment by `v ← (C∘C)·v` (C∘C the entrywise square). If the gradient's coordinates in the old
 *   basis are uncorrelated with variances v, its coordinate along q_new,i has variance `Σ_j C_ij²·v_j`. When
 *   the new basis only reorders the old one, C is a permutation and this is exactly the permutation SOAP
 *   applies; when the basis also turns by a small angle θ, the two rules differ by O(θ²). A basis that moves
 *   by more at every refresh (a 4-bit basis is re-quantized as a whole) needs the full rule: permuting alone
 *   leaves directions that now carry large gradient components with the tiny variance of the direction that
 *   held the index before, and Adam's step there blows up.
 */

/** `c = qNewᵀ·qOld` (all d×d). */
export function basisTransition(
  kernels: Kernels,
  d: number,
  qNew: F32Buffer,
  qOld: F32Buffer,
  c: F32Buffer,
): void {
  kernels.gemm(true, false, d, d, d, 1, qNew, qOld, 0, c);
}

/** `x ← C·x` along the mode (`tmp`: x's length). */
export function applyTransition(
  kernels: Kernels,
  x: F32Buffer,
  shape: ModeShape,
  c: F32Buffer,
  tmp: F32Buffer,
): void {
  // trans = true: tmp[a, i, b] = Σ_j C[i, j]·x[a, j, b].
  modeProduct(kernels, x, shape, c, true, tmp);
  x.view().set(tmp.view());
}

/**
 * `v ← (C∘C)·v` along the mode; `squared` (d×d) receives C∘C, `tmp` has v's length. The result is
 * non-negative and finite when v and C are.
 */
export function applySquaredTransition(
  kernels: Kernels,
  v: F32Buffer,
  shape: ModeShape,
  c: F32Buffer,
  squared: F32Buffer,
  tmp: F32Buffer,
): void {
  const cv = c.view();
  const sv = squared.view();
  for (let i = 0; i < cv.length; i++) sv[i] = cv[i] * cv[i];
  applyTransition(kernels, v, shape, squared, tmp);
}

/**
 * `v ← P·v` along the mode, P the refresh's Rayleigh re-sort (`tmp`: v's length): SOAP's own rule, which the
 * stores whose basis moves only by the power step's small turn keep.
 */
export function permuteSecondMoment(v: F32Buffer, shape: ModeShape, perm: Int32Array, tmp: F32Buffer): void {
  const t = tmp.view();
  modePermute(v.view(), t, shape, perm);
  v.view().set(t);
}
