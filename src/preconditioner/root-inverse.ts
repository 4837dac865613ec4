import type { F32Buffer, Kernels } from '../kernels/index.ts';
import { eigh, qr } from '../linalg/index.ts';
import type { RefreshStatus } from './refresh-status.ts';

/**
 * Distributed Shampoo's amortized computations on one Kronecker factor, with its exact ε semantics
 * (`matrix_inverse_root` with `EigenConfig` and `PerturbationConfig`, and the QR algorithm of
 * `QREigendecompositionConfig`). The dense decompositions run in float64; products with the f32 state use the
 * kernels, as the reference does its reconstruction in the factor's dtype.
 */

/** How the factor is regularized before and after the eigendecomposition. */
export interface FactorRegularization {
  /** ε: added to the diagonal before decomposing (when `perturbBeforeComputation`) and as the eigenvalue floor. */
  epsilon: number;
  /**
   * true (reference default): `A + εI` is decomposed, and only if `λ_min < ε` are all eigenvalues shifted by
   * `ε − λ_min`. false: A is decomposed as is and the eigenvalues are always shifted by `−min(λ_min, 0) + ε`.
   */
  perturbBeforeComputation: boolean;
  /** When set, A is multiplied by `max(tr A, ε)^(−traceScalingExponent)` first. */
  traceScalingExponent: number | null;
}

const F32_MAX = 3.4028234663852886e38;

/**
 * The matrix an amortized computation decomposes: `F / bc2`, optionally trace-scaled, plus `εI` when
 * perturbing before the computation, written to `out` (float64, n×n). Returns false if it is not finite —
 * in float32, as the reference forms `F / bc2` in the factor's dtype: an entry that overflows float32 counts.
 */
export function regularizedFactor(
  f: Float32Array,
  n: number,
  biasCorrection: number,
  reg: FactorRegularization,
  out: Float64Array,
): boolean {
  let trace = 0;
  for (let i = 0; i < n * n; i++) {
    const v = f[i] / biasCorrection;
    if (!(Math.abs(v) <= F32_MAX)) return false;
    out[i] = v;
  }
  if (reg.traceScalingExponent !== null) {
    for (let i = 0; i < n; i++) trace += out[i * n + i];
    const scale = Math.max(trace, reg.epsilon) ** -reg.traceScalingExponent;
    for (let i = 0; i < n * n; i++) out[i] *= scale;
  }
  if (reg.perturbBeforeComputation) for (let i = 0; i < n; i++) out[i * n + i] += reg.epsilon;
  return true;
}

/**
 * `stabilize(λ)^(−exponent)` into `out`: the reference's two-step perturbation that makes the spectrum positive
 * (see `FactorRegularization.perturbBeforeComputation`).
 */
export function stabilizedInversePower(
  lambda: ArrayLike<number>,
  n: number,
  reg: FactorRegularization,
  exponent: number,
  out: Float32Array,
): void {
  let min = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) min = Math.min(min, lambda[i]);
  let shift = 0;
  if (reg.perturbBeforeComputation) {
    if (min < reg.epsilon) shift = reg.epsilon - min;
  } else {
    shift = reg.epsilon - Math.min(min, 0);
  }
  for (let i = 0; i < n; i++) out[i] = (lambda[i] + shift) ** -exponent;
}

/** Scratch for one factor of order ≤ capacity: three n×n f32 matrices and one n-vector. */
export interface RootScratch {
  q: F32Buffer;
  qs: F32Buffer;
  t: F32Buffer;
  s: F32Buffer;
}

/** `out = Q·Diag(s)·Qᵀ` with Q n×n (columns are eigenvectors), through the kernels. */
function reconstruct(kernels: Kernels, n: number, scratch: RootScratch, out: F32Buffer): void {
  scratch.qs.view().set(scratch.q.view().subarray(0, n * n));
  kernels.scaleCols(scratch.qs, n, n, scratch.s);
  kernels.gemm(false, true, n, n, n, 1, scratch.qs, scratch.q, 0, out);
}

/**
 * Inverse root `A^(−exponent)` by eigh with the reference's ε semantics. `a` is the regularized factor from
 * `regularizedFactor`; `out` (exactly n² elements) receives the candidate root, valid only when 'ok'.
 */
export function eighInverseRoot(
  kernels: Kernels,
  a: Float64Array,
  n: number,
  reg: FactorRegularization,
  exponent: number,
  scratch: RootScratch,
  out: F32Buffer,
): RefreshStatus {
  let values: Float64Array;
  let vectors: Float64Array;
  try {
    ({ values, vectors } = eigh(a.subarray(0, n * n), n));
  } catch {
    return 'solver-failed';
  }
  stabilizedInversePower(values, n, reg, exponent, scratch.s.view());
  scratch.q.view().set(vectors);
  reconstruct(kernels, n, scratch, out);
  return kernels.allFinite(out) ? 'ok' : 'non-finite-output';
}

/**
 * Eigendecomposition by eigh: eigenvalues ascending into `lambda` (n), eigenvectors (columns) into `vectors`
 * (n×n); both are candidates, valid only when 'ok'. With `tolerance > 0` the decomposition is skipped when the
 * current eigenvectors `q` already nearly diagonalize A (`‖B − Diag(diag B)‖_F ≤ tolerance·‖B‖_F`, B = QᵀAQ):
 * then `diag(B)` and q are returned unchanged (unsorted), as the reference does.
 */
export function eighEigendecomposition(
  a: Float64Array,
  n: number,
  q: Float32Array,
  tolerance: number,
  lambda: Float32Array,
  vectors: Float32Array,
): RefreshStatus {
  if (tolerance > 0) {
    const B = congruence(a, Float64Array.from(q.subarray(0, n * n)), n);
    if (nearlyDiagonal(B, n, tolerance)) {
      for (let i = 0; i < n; i++) lambda[i] = B[i * n + i];
      vectors.set(q.subarray(0, n * n));
      return allFinite(lambda, n) ? 'ok' : 'non-finite-output';
    }
  }
  let e: { values: Float64Array; vectors: Float64Array };
  try {
    e = eigh(a.subarray(0, n * n), n);
  } catch {
    return 'solver-failed';
  }
  lambda.set(e.values);
  vectors.set(e.vectors);
  return allFinite(lambda, n) && allFinite(vectors, n * n) ? 'ok' : 'non-finite-output';
}

function allFinite(x: ArrayLike<number>, n: number): boolean {
  let probe = 0;
  for (let i = 0; i < n; i++) probe += x[i] * 0;
  return probe === 0;
}

/**
 * The reference's QR algorithm warm-started at the current eigenvector estimate Q: `B = QᵀAQ`, then up to
 * `maxIterations` times (while `‖B − Diag(diag B)‖_F > tolerance·‖B‖_F`): `B = Q_bᵀ·B·Q_b`, `Q ← Q·Q_b` with
 * `Q_b = qr(B).Q`. The eigenvalue estimates `diag(B)` are then sorted ascending (stably) with Q's columns.
 * `q` holds the current estimate on entry; `lambda`/`vectors` receive the candidates (valid only when 'ok').
 */
export function qrAlgorithmEigendecomposition(
  a: Float64Array,
  n: number,
  q: Float32Array,
  maxIterations: number,
  tolerance: number,
  lambda: Float32Array,
  vectors: Float32Array,
): RefreshStatus {
  const Q = Float64Array.from(q.subarray(0, n * n));
  let B = congruence(a, Q, n);
  for (let it = 0; it < maxIterations && !nearlyDiagonal(B, n, tolerance); it++) {
    let Qb: Float64Array;
    try {
      Qb = qr(B, n, n, 'lapack');
    } catch {
      return 'solver-failed';
    }
    B = congruence(B, Qb, n);
    const next = new Float64Array(n * n);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < n; k++) {
        const qik = Q[i * n + k];
        if (qik === 0) continue;
        for (let j = 0; j < n; j++) next[i * n + j] += qik * Qb[k * n + j];
      }
    }
    Q.set(next);
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => B[x * n + x] - B[y * n + y]);
  order.forEach((src, dst) => {
    lambda[dst] = B[src * n + src];
    for (let i = 0; i < n; i++) vectors[i * n + dst] = Q[i * n + src];
  });
  return allFinite(lambda, n) && allFinite(vectors, n * n) ? 'ok' : 'non-finite-output';
}

/** `Xᵀ·A·X` for n×n row-major matrices, float64. */
function congruence(a: ArrayLike<number>, x: Float64Array, n: number): Float64Array {
  const ax = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) ax[i * n + j] += aik * x[k * n + j];
    }
  }
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    for (let i = 0; i < n; i++) {
      const xki = x[k * n + i];
      if (xki === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] += xki * ax[k * n + j];
    }
  }
  return out;
}

/** The reference's convergence test: `‖B − Diag(diag B)‖_F ≤ tolerance·‖B‖_F`. */
function nearlyDiagonal(b: Float64Array, n: number, tolerance: number): boolean {
  let total = 0;
  let diag = 0;
  for (let i = 0; i < n * n; i++) total += b[i] * b[i];
  for (let i = 0; i < n; i++) diag += b[i * n + i] ** 2;
  return Math.sqrt(Math.max(total - diag, 0)) <= tolerance * Math.sqrt(total);
}

/** Copies a candidate into state only after success: the failure policy keeps the previous value otherwise. */
export function commit(candidate: Float32Array, state: F32Buffer): void {
  state.view().set(candidate.subarray(0, state.length));
}
