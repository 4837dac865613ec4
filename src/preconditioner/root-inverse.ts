import { isAllFinite } from '../finite.ts';
import type { F32Buffer, Kernels } from '../kernels/index.ts';
import { eigh, inverseRootEigenvalues, orthogonalIterationStep, rayleighQuotients } from '../linalg/index.ts';
import type { RefreshStatus } from './refresh-status.ts';

/**
 * Distributed Shampoo's amortized computations on one Kronecker factor, with its exact ε semantics
 * (`matrix_inverse_root` with `EigenConfig` and `PerturbationConfig`, and the QR algorithm of
 * `QREigendecompositionConfig`). Decompositions, the eigenvalue regularization (`inverseRootEigenvalues` with
 * the 'absolute' ridge) and the QR steps come from src/linalg in float64; the root's reconstruction
 * `Q·Diag(s)·Qᵀ` uses the kernels, as the reference reconstructs in the factor's dtype (float32).
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
 * (see `FactorRegularization.perturbBeforeComputation`), through linalg's 'absolute' ridge. `work` is float64
 * scratch of length ≥ n. Throws `NonFiniteError` if a power is not finite.
 */
export function stabilizedInversePower(
  lambda: ArrayLike<number>,
  n: number,
  reg: FactorRegularization,
  exponent: number,
  out: Float32Array,
  work: Float64Array,
): void {
  const mu = inverseRootEigenvalues(
    lambda.length === n ? lambda : Array.prototype.slice.call(lambda, 0, n),
    1 / exponent,
    { kind: 'absolute', epsilon: reg.epsilon, perturbBeforeComputation: reg.perturbBeforeComputation },
    work.subarray(0, n),
  );
  out.set(mu);
}

/**
 * Scratch for one factor of order ≤ capacity: two capacity² f32 matrices and one capacity-vector. After
 * `eighInverseRoot` `q` holds the root's eigenvectors.
 */
export interface RootScratch {
  q: F32Buffer;
  qs: F32Buffer;
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
 *
 * When A is a factor held in a basis (`F = Q̃·A·Q̃ᵀ`, a rotated store), `inBasis.basis` is Q̃ (columns, n×n):
 * the root is then `(Q̃W)·Diag(·)·(Q̃W)ᵀ` for A's eigenvectors W, `inBasis.eigenvectors` receives W (float64,
 * columns) and `scratch.q` is left holding Q̃W, the eigenvectors of F.
 */
export function eighInverseRoot(
  kernels: Kernels,
  a: Float64Array,
  n: number,
  reg: FactorRegularization,
  exponent: number,
  scratch: RootScratch,
  out: F32Buffer,
  inBasis?: { basis: F32Buffer; eigenvectors: Float64Array },
): RefreshStatus {
  let values: Float64Array;
  let vectors: Float64Array;
  try {
    ({ values, vectors } = eigh(a.subarray(0, n * n), n));
  } catch {
    return 'solver-failed';
  }
  try {
    stabilizedInversePower(values, n, reg, exponent, scratch.s.view(), a);
  } catch {
    return 'non-finite-output';
  }
  if (inBasis) {
    inBasis.eigenvectors.set(vectors);
    scratch.qs.view().set(vectors);
    kernels.gemm(false, false, n, n, n, 1, inBasis.basis, scratch.qs, 0, scratch.q);
  } else {
    scratch.q.view().set(vectors);
  }
  reconstruct(kernels, n, scratch, out);
  return kernels.allFinite(out) ? 'ok' : 'non-finite-output';
}

/**
 * Eigendecomposition by eigh: eigenvalues ascending into `lambda` (n), eigenvectors (columns) into `vectors`
 * (n×n); both are candidates, valid only when 'ok'. With `tolerance > 0` the decomposition is skipped when the
 * current eigenvectors `q` already nearly diagonalize A (see `nearlyDiagonal`): then their Rayleigh quotients
 * and q are returned unchanged (unsorted), as the reference does.
 */
export function eighEigendecomposition(
  a: Float64Array,
  n: number,
  q: Float32Array,
  tolerance: number,
  lambda: Float32Array,
  vectors: Float32Array,
): RefreshStatus {
  const A = a.subarray(0, n * n);
  if (tolerance > 0) {
    let estimates: Float64Array;
    try {
      estimates = rayleighQuotients(A, q, n);
    } catch {
      return 'solver-failed';
    }
    if (nearlyDiagonal(A, estimates, n, tolerance)) {
      lambda.set(estimates);
      vectors.set(q.subarray(0, n * n));
      return isAllFinite(lambda, n) ? 'ok' : 'non-finite-output';
    }
  }
  let e: { values: Float64Array; vectors: Float64Array };
  try {
    e = eigh(A, n);
  } catch {
    return 'solver-failed';
  }
  lambda.set(e.values);
  vectors.set(e.vectors);
  return isAllFinite(lambda, n) && isAllFinite(vectors, n * n) ? 'ok' : 'non-finite-output';
}

/**
 * The reference's QR algorithm warm-started at the current eigenvector estimate Q: up to `maxIterations`
 * times, while Q does not yet nearly diagonalize A, one orthogonal-iteration step `Q ← qr(A·Q).Q` — the same
 * as the reference's `B = QᵀAQ; Q ← Q·qr(B).Q` (ALGORITHMS.md P3). The eigenvalue estimates `diag(QᵀAQ)` are
 * then sorted ascending (stably) with Q's columns. `q` holds the current estimate on entry; `lambda`/`vectors`
 * receive the candidates (valid only when 'ok').
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
  const A = a.subarray(0, n * n);
  let Q: Float64Array = Float64Array.from(q.subarray(0, n * n));
  let estimates: Float64Array;
  try {
    estimates = rayleighQuotients(A, Q, n);
    for (let it = 0; it < maxIterations && !nearlyDiagonal(A, estimates, n, tolerance); it++) {
      Q = orthogonalIterationStep(A, Q, n, n, 'lapack');
      estimates = rayleighQuotients(A, Q, n);
    }
  } catch {
    return 'solver-failed';
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((x, y) => estimates[x] - estimates[y]);
  order.forEach((src, dst) => {
    lambda[dst] = estimates[src];
    for (let i = 0; i < n; i++) vectors[i * n + dst] = Q[i * n + src];
  });
  return isAllFinite(lambda, n) && isAllFinite(vectors, n * n) ? 'ok' : 'non-finite-output';
}

/**
 * The reference's convergence test `‖B − Diag(diag B)‖_F ≤ tolerance·‖B‖_F` for `B = QᵀAQ`, evaluated as it
 * does, from `‖B‖_F² − ‖diag B‖²` — with `‖B‖_F = ‖A‖_F` for orthogonal Q, so only the Rayleigh quotients
 * (diag B) are needed.
 */
function nearlyDiagonal(a: Float64Array, diag: Float64Array, n: number, tolerance: number): boolean {
  let total = 0;
  let d = 0;
  for (let i = 0; i < n * n; i++) total += a[i] * a[i];
  for (let i = 0; i < n; i++) d += diag[i] * diag[i];
  return Math.sqrt(Math.max(total - d, 0)) <= tolerance * Math.sqrt(total);
}

/** Copies a candidate into state only after success: the failure policy keeps the previous value otherwise. */
export function commit(candidate: Float32Array, state: F32Buffer): void {
  state.view().set(candidate.subarray(0, state.length));
}
