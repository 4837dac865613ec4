/**
 * The basis refresh of SOAP and the KL methods on an fp32 factor held in parameter coordinates: one
 * warm-started power-iteration step `proposal = qr(F·Q).Q` (ALGORITHMS.md P3), optionally after ordering Q's
 * columns by descending Rayleigh quotient `diag(Qᵀ·F·Q)` (SOAP). Shared by the stores that keep the factor
 * densely (fp32, bf16-naive, 4-bit-naive).
 */

import { isAllFinite } from '../finite.ts';
import type { F32Buffer, Kernels } from '../kernels/index.ts';
import { eigh } from '../linalg/index.ts';
import { qrFloat32 } from '../linalg/qr-f32.ts';

/**
 * `next = qr(F·Q[:, perm]).Q` with the 'positive-diagonal' sign convention; `prod` (d×d) is scratch. With
 * `sortByRayleigh`, `perm` orders the columns by descending `diag(Qᵀ·F·Q)` (ties by index), otherwise it is
 * not touched and the columns keep their order. Returns false (and leaves `next` unspecified) if the product,
 * the estimates or the QR are not finite.
 *
 * The QR runs in float32 through the kernels' GEMM (`qrFloat32`), as the reference computes it
 * (torch.linalg.qr on float32 tensors); the Rayleigh quotients are accumulated in float64.
 */
export function powerStepProposal(
  kernels: Kernels,
  d: number,
  factor: F32Buffer,
  basis: F32Buffer,
  prod: F32Buffer,
  next: F32Buffer,
  estimates: Float64Array,
  perm: Int32Array,
  sortByRayleigh: boolean,
): boolean {
  kernels.gemm(false, false, d, d, d, 1, factor, basis, 0, prod);
  if (sortByRayleigh) {
    const p = prod.view();
    const q = basis.view();
    // Row by row (contiguous; 4× faster than down the columns at d = 1024), each column's sum still in
    // increasing i.
    estimates.fill(0, 0, d);
    for (let i = 0; i < d; i++) {
      const r = i * d;
      for (let j = 0; j < d; j++) estimates[j] += q[r + j] * p[r + j];
    }
    for (let j = 0; j < d; j++) perm[j] = j;
    if (!isAllFinite(estimates.subarray(0, d))) return false;
    perm.subarray(0, d).sort((a, b) => estimates[b] - estimates[a] || a - b);
    // Columns permuted in place, a row at a time.
    const row = new Float32Array(d);
    for (let i = 0; i < d; i++) {
      const r = p.subarray(i * d, (i + 1) * d);
      row.set(r);
      for (let j = 0; j < d; j++) r[j] = row[perm[j]];
    }
  }
  return qrFloat32(kernels, d, d, prod.slice(0, d * d), next.slice(0, d * d));
}

/**
 * Eigenvectors of the symmetric d×d matrix `a` (float64 eigh of its symmetrization) into `out` (d×d, columns
 * in DESCENDING eigenvalue order), and the eigenvalues, descending, into `values` when given. Returns false
 * (out untouched) if the eigensolver fails or returns non-finite vectors.
 */
export function descendingEigenvectors(
  a: ArrayLike<number>,
  d: number,
  out: Float32Array,
  values?: Float32Array,
): boolean {
  let vectors: Float64Array;
  let lambda: Float64Array;
  try {
    ({ vectors, values: lambda } = eigh(a, d));
  } catch {
    return false;
  }
  if (!isAllFinite(vectors) || !isAllFinite(lambda)) return false;
  for (let i = 0; i < d; i++) {
    for (let j = 0; j < d; j++) out[i * d + j] = vectors[i * d + (d - 1 - j)];
  }
  if (values) for (let j = 0; j < d; j++) values[j] = lambda[d - 1 - j];
  return true;
}

/** Writes the d×d identity into `q`. */
export function writeIdentity(q: Float32Array, d: number): void {
  q.fill(0, 0, d * d);
  for (let i = 0; i < d; i++) q[i * d + i] = 1;
}
