import { inverseRootEigenvalues, orthogonalIterationStep, rayleighQuotients } from '../linalg/index.ts';
import type { StoredMatrix } from '../storage/stored-matrix.ts';
import type { MatrixArithmetic } from './matrix-arithmetic.ts';
import type { RefreshStatus } from './refresh-status.ts';

/**
 * The eigen-parametrized Kronecker factor of 4-bit Shampoo (`QTensorSVDFast` in `shampoo2.py`): a factor A of
 * order n is stored as `(Vt, S)` with `A = Vtᵀ·Diag(S)·Vt`, where the rows of Vt are eigenvector estimates and
 * S their Rayleigh quotients. It starts as `εI` (Vt = I, S = ε). A statistics update reconstructs A, takes the
 * EMA with this step's outer product, and refreshes the basis by ONE warm-started power step `V = qr(A·Vtᵀ).Q`
 * with `S = diag(Vᵀ·A·V)`. So A is not the exact EMA of `G·Gᵀ`: what is kept is its projection on the
 * tracked eigenbasis.
 *
 * Vt is a `StoredMatrix` (fp32, bf16 or 4-bit; S is always a real vector). Björck rectification
 * (`Vt ← 1.5·Vt − 0.5·Vt·Vtᵀ·Vt`) repairs the orthogonality that low-precision storage loses: `rectT1`
 * iterations before the factor is reconstructed, `rectT2` before a root, on the decoded copy (the reference
 * rectifies only quantized eigenvectors, so fp32 storage passes 0 iterations).
 *
 * Every function is generic over the arithmetic (`MatrixArithmetic`): the library runs it in float32 on the
 * kernels, the fixture replays in float64. The power step, the Rayleigh quotients and the eigenvalue powers
 * are float64 (src/linalg) in both.
 */

/**
 * Scratch for factors of order ≤ capacity: capacity² matrices `v` (decoded eigenvectors), `a`, `w`, and one
 * capacity-vector `s`.
 */
export interface EigenFactorScratch<M> {
  v: M;
  a: M;
  w: M;
  s: M;
}

/** Björck orthonormalization in place: `V ← 1.5·V − 0.5·(V·Vᵀ)·V`, `iterations` times; g, c: d×d scratch. */
export function bjorckInPlace<M>(
  ar: MatrixArithmetic<M>,
  v: M,
  d: number,
  iterations: number,
  g: M,
  c: M,
): void {
  const vv = ar.slice(v, 0, d * d);
  const cc = ar.slice(c, 0, d * d);
  for (let it = 0; it < iterations; it++) {
    ar.syrk(false, d, d, 1, vv, 0, g);
    ar.gemm(false, false, d, d, d, 1, g, vv, 0, cc);
    ar.axpby(-0.5, cc, 1.5, vv);
  }
}

/** `a = Vtᵀ·Diag(s)·Vt` (n×n), using `w` as scratch. */
export function reconstructFactor<M>(ar: MatrixArithmetic<M>, vt: M, s: M, n: number, w: M, a: M): void {
  ar.view(w).set(ar.view(vt).subarray(0, n * n));
  ar.scaleRows(w, n, n, s);
  ar.gemm(true, false, n, n, n, 1, vt, w, 0, a);
}

/**
 * The eigenvectors to compute with (rows = eigenvectors): decoded into `scratch.v` (or the fp32 state itself)
 * and rectified by `iterations` Björck steps (which never touch the state: fp32 storage passes 0).
 */
export function readEigenvectors<M>(
  ar: MatrixArithmetic<M>,
  vt: StoredMatrix<M>,
  n: number,
  iterations: number,
  scratch: EigenFactorScratch<M>,
): M {
  let v = vt.read(scratch.v);
  if (iterations === 0) return v;
  if (v !== scratch.v) {
    // fp32 storage hands out the state itself: rectify a copy.
    ar.view(scratch.v).set(ar.view(v).subarray(0, n * n));
    v = scratch.v;
  }
  bjorckInPlace(ar, v, n, iterations, scratch.a, scratch.w);
  return v;
}

/** Which outer product of a rows×cols block gradient G feeds the factor: `G·Gᵀ` (left) or `Gᵀ·G` (right). */
export type FactorSide = 'left' | 'right';

/** `a ← beta·a + weight·stat(G)` for the side's outer product of the rows×cols block gradient g. */
export function accumulateStatistic<M>(
  ar: MatrixArithmetic<M>,
  a: M,
  g: M,
  rows: number,
  cols: number,
  side: FactorSide,
  beta: number,
  weight: number,
): void {
  if (side === 'left') ar.syrk(false, rows, cols, weight, g, beta, a);
  else ar.syrk(true, cols, rows, weight, g, beta, a);
}

/**
 * One statistics update of the factor `(vt, s)` of order n from the dense block gradient g (rows×cols):
 * `A ← beta·A + weight·stat`, then the warm-started QR step and Rayleigh quotients. On anything but 'ok' the
 * stored `(vt, s)` are left as they were.
 */
export function updateEigenFactor<M>(
  ar: MatrixArithmetic<M>,
  vt: StoredMatrix<M>,
  s: M,
  n: number,
  g: M,
  rows: number,
  cols: number,
  side: FactorSide,
  beta: number,
  weight: number,
  rectifyIterations: number,
  scratch: EigenFactorScratch<M>,
): RefreshStatus {
  const nn = n * n;
  const { a, w } = scratch;
  const basis = readEigenvectors(ar, vt, n, rectifyIterations, scratch);
  reconstructFactor(ar, basis, s, n, w, a);
  accumulateStatistic(ar, a, g, rows, cols, side, beta, weight);
  if (!ar.allFinite(ar.slice(a, 0, nn))) return 'non-finite-input';
  // One warm-started power step from V_old = basisᵀ (columns are the eigenvector estimates), then the
  // Rayleigh quotients of the new basis, both float64.
  const A = ar.view(a).subarray(0, nn);
  const b = ar.view(basis);
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
  const wt = ar.view(w);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) wt[j * n + i] = v[i * n + j];
  const sNew = ar.view(scratch.s);
  sNew.set(rayleigh);
  if (!ar.allFinite(ar.slice(w, 0, nn)) || !ar.allFinite(ar.slice(scratch.s, 0, n)))
    return 'non-finite-output';
  if (!vt.write(ar.slice(w, 0, nn))) return 'non-finite-output';
  ar.view(s).set(sNew.subarray(0, n));
  return 'ok';
}

/**
 * `out = Vtᵀ·Diag(mu)·Vt` for the eigenvectors `vt` (rows) and the scaling `mu` (n, written into `scratch.s`),
 * using `scratch.w`.
 */
export function eigenReconstructInto<M>(
  ar: MatrixArithmetic<M>,
  vt: M,
  mu: ArrayLike<number>,
  n: number,
  scratch: EigenFactorScratch<M>,
  out: M,
): void {
  const sv = ar.view(scratch.s);
  for (let i = 0; i < n; i++) sv[i] = mu[i];
  reconstructFactor(ar, vt, ar.slice(scratch.s, 0, n), n, scratch.w, out);
}

/**
 * Candidate inverse root `Vtᵀ·Diag((S + ρ)^(−exponent))·Vt` with the relative ridge `ρ = matrixEps·max(S)`
 * (floored at the smallest normal float32 so an all-zero spectrum cannot produce Infinity), into `out` (n²).
 */
export function eigenFactorRoot<M>(
  ar: MatrixArithmetic<M>,
  vt: StoredMatrix<M>,
  s: M,
  n: number,
  exponent: number,
  matrixEps: number,
  rectifyIterations: number,
  scratch: EigenFactorScratch<M>,
  out: M,
): RefreshStatus {
  const basis = readEigenvectors(ar, vt, n, rectifyIterations, scratch);
  let mu: Float64Array;
  try {
    mu = inverseRootEigenvalues(ar.view(s).subarray(0, n), 1 / exponent, {
      kind: 'relative',
      epsilon: matrixEps,
      minRidge: SMALLEST_NORMAL_F32,
    });
  } catch {
    return 'non-finite-input';
  }
  eigenReconstructInto(ar, basis, mu, n, scratch, out);
  return ar.allFinite(ar.slice(out, 0, n * n)) ? 'ok' : 'non-finite-output';
}

/** Floor of the relative ridge: an all-zero spectrum gives a huge but finite root instead of Infinity. */
export const SMALLEST_NORMAL_F32 = 1.1754943508222875e-38;
