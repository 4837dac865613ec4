import type { F32Buffer, Kernels } from '../kernels/index.ts';
import {
  bjorck,
  inverseRootEigenvalues,
  orthogonalIterationStep,
  rayleighQuotients,
} from '../linalg/index.ts';
import type { RefreshStatus } from './refresh-status.ts';

/**
 * The eigen-parametrized Kronecker factor of 4-bit Shampoo (`QTensorSVDFast` in `shampoo2.py`): a factor A of
 * order n is stored as `(Vt, S)` with `A = Vtᵀ·Diag(S)·Vt`, where the rows of Vt are eigenvector estimates and
 * S their Rayleigh quotients. It starts as `εI` (Vt = I, S = ε). A statistics update reconstructs A, takes the
 * EMA with this step's outer product, and refreshes the basis by ONE warm-started power step `V = qr(A·Vtᵀ).Q`
 * with `S = diag(Vᵀ·A·V)`. So A is not the exact EMA of `G·Gᵀ`: what is kept is its projection on the
 * tracked eigenbasis.
 *
 * Björck rectification (`Vt ← 1.5·Vt − 0.5·Vt·Vtᵀ·Vt`) repairs the orthogonality that quantized storage loses;
 * the reference applies it only to quantized eigenvectors (t1 times before reconstructing, t2 times before a
 * root), so fp32 storage passes 0 iterations.
 */

/**
 * Scratch for factors of order ≤ capacity: capacity² matrices `a`, `w`, the rectified copy `r` (used only when
 * rectifying), and one capacity-vector `s`.
 */
export interface EigenFactorScratch {
  a: F32Buffer;
  w: F32Buffer;
  r: F32Buffer;
  s: F32Buffer;
}

/** `a = Vtᵀ·Diag(s)·Vt` (n×n), using `w` as scratch. */
export function reconstructFactor(
  kernels: Kernels,
  vt: F32Buffer,
  s: F32Buffer,
  n: number,
  w: F32Buffer,
  a: F32Buffer,
): void {
  w.view().set(vt.view().subarray(0, n * n));
  kernels.scaleRows(w, n, n, s);
  kernels.gemm(true, false, n, n, n, 1, vt, w, 0, a);
}

/** The eigenvectors to compute with: the stored ones, or a Björck-rectified copy in `into` when iterations > 0. */
function rectified(vt: F32Buffer, n: number, iterations: number, into: F32Buffer): F32Buffer {
  if (iterations === 0) return vt;
  into.view().set(bjorck(vt.view().subarray(0, n * n), n, n, iterations));
  return into;
}

/** Which outer product of a rows×cols block gradient G feeds the factor: `G·Gᵀ` (left) or `Gᵀ·G` (right). */
export type FactorSide = 'left' | 'right';

/**
 * One statistics update of the factor `(vt, s)` of order n from the dense block gradient g (rows×cols):
 * `A ← beta·A + weight·stat`, then the warm-started QR step and Rayleigh quotients. On anything but 'ok' the
 * stored `(vt, s)` are left as they were.
 */
export function updateEigenFactor(
  kernels: Kernels,
  vt: F32Buffer,
  s: F32Buffer,
  n: number,
  g: F32Buffer,
  rows: number,
  cols: number,
  side: FactorSide,
  beta: number,
  weight: number,
  rectifyIterations: number,
  scratch: EigenFactorScratch,
): RefreshStatus {
  const nn = n * n;
  const { a, w } = scratch;
  const basis = rectified(vt, n, rectifyIterations, scratch.r);
  reconstructFactor(kernels, basis, s, n, w, a);
  if (side === 'left') kernels.syrk(false, rows, cols, weight, g, beta, a);
  else kernels.syrk(true, cols, rows, weight, g, beta, a);
  if (!kernels.allFinite(a.slice(0, nn))) return 'non-finite-input';
  // One warm-started power step from V_old = basisᵀ (columns are the eigenvector estimates), then the
  // Rayleigh quotients of the new basis, both float64.
  const A = a.view().subarray(0, nn);
  const b = basis.view();
  const vOld = new Float64Array(nn);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vOld[j * n + i] = b[i * n + j];
  let v: Float64Array;
  let rayleigh: Float64Array;
  try {
    v = orthogonalIterationStep(A, vOld, n, n, 'lapack');
    rayleigh = rayleighQuotients(A, v, n);
  } catch {
    return 'solver-failed';
  }
  // Stored layout: rows are eigenvectors (Vt = Vᵀ).
  const wt = w.view();
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) wt[j * n + i] = v[i * n + j];
  const sNew = scratch.s.view();
  sNew.set(rayleigh);
  if (!kernels.allFinite(w.slice(0, nn)) || !kernels.allFinite(scratch.s.slice(0, n)))
    return 'non-finite-output';
  vt.view().set(wt.subarray(0, nn));
  s.view().set(sNew.subarray(0, n));
  return 'ok';
}

/**
 * Candidate inverse root `Vtᵀ·Diag((S + ρ)^(−exponent))·Vt` with the relative ridge `ρ = matrixEps·max(S)`
 * (floored at the smallest normal float32 so an all-zero spectrum cannot produce Infinity), into `out` (n²).
 */
export function eigenFactorRoot(
  kernels: Kernels,
  vt: F32Buffer,
  s: F32Buffer,
  n: number,
  exponent: number,
  matrixEps: number,
  rectifyIterations: number,
  scratch: EigenFactorScratch,
  out: F32Buffer,
): RefreshStatus {
  const { w } = scratch;
  const basis = rectified(vt, n, rectifyIterations, scratch.r);
  let mu: Float64Array;
  try {
    mu = inverseRootEigenvalues(s.view().subarray(0, n), 1 / exponent, {
      kind: 'relative',
      epsilon: matrixEps,
      minRidge: SMALLEST_NORMAL_F32,
    });
  } catch {
    return 'non-finite-input';
  }
  scratch.s.view().set(mu);
  w.view().set(basis.view().subarray(0, n * n));
  kernels.scaleRows(w, n, n, scratch.s);
  kernels.gemm(true, false, n, n, n, 1, basis, w, 0, out);
  return kernels.allFinite(out) ? 'ok' : 'non-finite-output';
}

/** Floor of the relative ridge: an all-zero spectrum gives a huge but finite root instead of Infinity. */
const SMALLEST_NORMAL_F32 = 1.1754943508222875e-38;
