import type { F32Buffer, Kernels } from '../kernels/index.ts';
import { qr } from '../linalg/index.ts';
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
 * Scratch for factors of order ≤ capacity: capacity² matrices `a`, `w`, `y`, the rectified copy `r` (used
 * only when rectifying), and one capacity-vector `s`.
 */
export interface EigenFactorScratch {
  a: F32Buffer;
  w: F32Buffer;
  y: F32Buffer;
  r: F32Buffer;
  s: F32Buffer;
}

/** In place, `iterations` times: `Vt ← 1.5·Vt − 0.5·(Vt·Vtᵀ)·Vt`. `t` and `u` are n×n scratch. */
export function bjorck(
  kernels: Kernels,
  vt: F32Buffer,
  n: number,
  iterations: number,
  t: F32Buffer,
  u: F32Buffer,
): void {
  for (let it = 0; it < iterations; it++) {
    kernels.syrk(false, n, n, 1, vt, 0, t);
    kernels.gemm(false, false, n, n, n, 1, t, vt, 0, u);
    const v = vt.view();
    const w = u.view();
    for (let i = 0; i < n * n; i++) v[i] = 1.5 * v[i] - 0.5 * w[i];
  }
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

/** The eigenvectors to compute with: the stored ones, or a rectified copy in `into` when iterations > 0. */
function rectified(
  kernels: Kernels,
  vt: F32Buffer,
  n: number,
  iterations: number,
  into: F32Buffer,
  t: F32Buffer,
  u: F32Buffer,
): F32Buffer {
  if (iterations === 0) return vt;
  into.view().set(vt.view().subarray(0, n * n));
  bjorck(kernels, into, n, iterations, t, u);
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
  const { a, w, y } = scratch;
  const basis = rectified(kernels, vt, n, rectifyIterations, scratch.r, a, w);
  reconstructFactor(kernels, basis, s, n, w, a);
  if (side === 'left') kernels.syrk(false, rows, cols, weight, g, beta, a);
  else kernels.syrk(true, cols, rows, weight, g, beta, a);
  if (!kernels.allFinite(a.slice(0, nn))) return 'non-finite-input';
  // Y = A·V_old with V_old = basisᵀ; then V = qr(Y).Q.
  kernels.gemm(false, true, n, n, n, 1, a, basis, 0, y);
  let v: Float64Array;
  try {
    v = qr(y.view().subarray(0, nn), n, n, 'lapack');
  } catch {
    return 'solver-failed';
  }
  // w ← Vᵀ (the stored layout: rows are eigenvectors).
  const wt = w.view();
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) wt[j * n + i] = v[i * n + j];
  // Rayleigh quotients S_j = (Vᵀ·A·V)_jj = Σ_i V_ij·(A·V)_ij, accumulated in float64.
  kernels.gemm(false, true, n, n, n, 1, a, w, 0, y);
  const av = y.view();
  const sNew = scratch.s.view();
  for (let j = 0; j < n; j++) {
    let acc = 0;
    for (let i = 0; i < n; i++) acc += wt[j * n + i] * av[i * n + j];
    sNew[j] = acc;
  }
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
  const { a, w } = scratch;
  const basis = rectified(kernels, vt, n, rectifyIterations, scratch.r, a, w);
  const sv = s.view();
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) max = Math.max(max, sv[i]);
  if (!Number.isFinite(max)) return 'non-finite-input';
  const rho = Math.max(matrixEps * max, 1.1754943508222875e-38);
  const inv = scratch.s.view();
  for (let i = 0; i < n; i++) inv[i] = 1 / (sv[i] + rho) ** exponent;
  w.view().set(basis.view().subarray(0, n * n));
  kernels.scaleRows(w, n, n, scratch.s);
  kernels.gemm(true, false, n, n, n, 1, basis, w, 0, out);
  return kernels.allFinite(out) ? 'ok' : 'non-finite-output';
}
