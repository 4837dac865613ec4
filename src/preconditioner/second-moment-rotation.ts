import type { F32Buffer, Kernels } from '../kernels/index.ts';
import { type ModeShape, modeProduct } from './mode-products.ts';

/**
 * Carries a second moment held in one basis into another along one mode: `v ← (C∘C)·v` with
 * `C = Q_newᵀ·Q_old` (C∘C its entrywise square), in place.
 *
 * Why this rule: if the coordinates of a gradient in the old basis are uncorrelated with variances v, its
 * coordinate along a new basis vector q_i has variance `Σ_j (q_i·q_old_j)²·v_j`. When the new basis is the old
 * one with its columns reordered, C is a permutation and this is exactly the permutation SOAP applies; when
 * the basis also turns by a small angle θ, the two rules differ by O(θ²). A basis that moves by more at every
 * refresh (a 4-bit basis is re-quantized as a whole) needs the full rule: permuting alone would leave directions
 * that now carry large gradient components with the tiny variance of the direction that held the index
 * before, and Adam's step there blows up.
 *
 * `c` (d×d) and `tmp` (v's length) are scratch. The result is non-negative and finite when v is.
 */
export function rotateSecondMomentSquared(
  kernels: Kernels,
  v: F32Buffer,
  shape: ModeShape,
  qNew: F32Buffer,
  qOld: F32Buffer,
  c: F32Buffer,
  tmp: F32Buffer,
): void {
  const d = shape.dim;
  kernels.gemm(true, false, d, d, d, 1, qNew, qOld, 0, c);
  const cv = c.view();
  for (let i = 0; i < d * d; i++) cv[i] *= cv[i];
  // trans = true: tmp[a, i, b] = Σ_j (C∘C)[i, j]·v[a, j, b].
  modeProduct(kernels, v, shape, c, true, tmp);
  v.view().set(tmp.view());
}
