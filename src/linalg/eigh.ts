import { ConvergenceError, NonFiniteError } from '../errors.ts';
import { HeapWorkspace, type Workspace, withWorkspace } from './engine.ts';
import { transposeInto } from './gemm-nt.ts';
import { tridiagonalEigen, tridiagonalEigenScratch } from './tridiagonal-dc.ts';
import { tridiagonalQl } from './tridiagonal-ql.ts';
import { applyTridiagonalQ, BACK_TRANSFORM_BLOCK, tridiagonalize } from './tridiagonalize.ts';

/** Eigendecomposition `A = V·Diag(values)·Vᵀ` of a symmetric matrix. */
export interface Eigh {
  /** Eigenvalues in ascending order. */
  values: Float64Array;
  /** n×n row-major; column j is the unit eigenvector of `values[j]`. */
  vectors: Float64Array;
}

export interface EighOptions {
  /** Where to write the eigenvalues (length ≥ n); allocated when omitted. */
  values?: Float64Array;
  /** Where to write the eigenvectors (length ≥ n²); allocated when omitted. */
  vectors?: Float64Array;
}

/**
 * Symmetric eigendecomposition in float64. The input (row-major n×n, any numeric array) is symmetrised first,
 * `(A + Aᵀ)/2`, and is not modified. Eigenvalues are returned in **ascending** order (as torch.linalg.eigh and
 * LAPACK do); column j of `vectors` is the unit eigenvector of `values[j]`. Eigenvector signs are arbitrary.
 *
 * Method (LAPACK dsyevd's): scale A by a power of two so that its largest entry is about 1 (exact; avoids
 * overflow and underflow), Householder tridiagonalisation, divide and conquer on the tridiagonal matrix
 * (eigenvectors stay orthogonal for repeated and clustered eigenvalues), then the Householder
 * back-transformation as blocked matrix products. Residuals ‖AV − VΛ‖/‖A‖ and ‖VᵀV − I‖ are O(n·ε).
 *
 * @throws NonFiniteError if A holds NaN or ±Infinity.
 * @throws ConvergenceError if an iteration fails to converge or the result is not finite (not expected).
 */
export function eigh(a: ArrayLike<number>, n: number, options: EighOptions = {}): Eigh {
  const values = options.values ?? new Float64Array(n);
  const vectors = options.vectors ?? new Float64Array(n * n);
  if (values.length < n || vectors.length < n * n) throw new RangeError('eigh: output buffers are too small');
  if (a.length < n * n) throw new RangeError(`eigh: input has ${a.length} entries, needs ${n * n}`);
  if (n === 0) return { values, vectors };
  withWorkspace(eighScratch(n), (ws) => eighInto(a, n, values, vectors, ws));
  return { values, vectors };
}

/** Float64 values of scratch {@link eighInto} takes from its workspace (its peak, the merges of D&C). */
export function eighScratch(n: number): number {
  const back = n * n + 4 * BACK_TRANSFORM_BLOCK * n + 2 * BACK_TRANSFORM_BLOCK * BACK_TRANSFORM_BLOCK;
  return 2 * n * n + Math.max(tridiagonalEigenScratch(n), back) + 8 * n;
}

/** eigh with its scratch taken from `ws`; values and vectors are written to the given arrays. */
export function eighInto(
  a: ArrayLike<number>,
  n: number,
  values: Float64Array,
  vectors: Float64Array,
  ws: Workspace = new HeapWorkspace(),
): void {
  const mark = ws.mark();
  const A = ws.f64(n * n);
  const { s1, s2 } = symmetrizeScaled(a, n, 'eigh', A);
  const d = new Float64Array(n);
  const e = new Float64Array(Math.max(n - 1, 1));
  const tau = new Float64Array(Math.max(n - 2, 1));
  tridiagonalize(A, n, d, e, tau, ws);
  const z = ws.f64(n * n);
  tridiagonalEigen(d, e, n, z, ws);
  // Eigenvectors of T as rows, then the back-transformation, then back to columns.
  const zt = ws.f64(n * n);
  transposeInto(n, n, z, 0, n, zt, 0, n);
  applyTridiagonalQ(A, n, tau, zt, n, ws);
  transposeInto(n, n, zt, 0, n, vectors, 0, n);
  for (let i = 0; i < n; i++) values[i] = d[i] / s1 / s2;
  ws.release(mark);
  checkFinite(values, n, vectors);
}

/**
 * Eigenvalues only, ascending: tridiagonalisation plus QL, about (4/3)n³ flops (a quarter of {@link eigh}).
 * Same input handling and errors as eigh.
 */
export function eigvalsh(a: ArrayLike<number>, n: number, out?: Float64Array): Float64Array {
  const values = out ?? new Float64Array(n);
  if (values.length < n) throw new RangeError('eigvalsh: output buffer is too small');
  if (a.length < n * n) throw new RangeError(`eigvalsh: input has ${a.length} entries, needs ${n * n}`);
  if (n === 0) return values;
  withWorkspace(n * n + 4 * n, (ws) => {
    const A = ws.f64(n * n);
    const { s1, s2 } = symmetrizeScaled(a, n, 'eigvalsh', A);
    const d = new Float64Array(n);
    const e = new Float64Array(n);
    const tau = new Float64Array(Math.max(n - 2, 1));
    tridiagonalize(A, n, d, e, tau, ws);
    tridiagonalQl(d, e, n, null);
    d.sort();
    for (let i = 0; i < n; i++) values[i] = d[i] / s1 / s2;
  });
  checkFinite(values, n, null);
  return values;
}

/**
 * A ← (a + aᵀ)/2 times s1·s2, two powers of two that bring max |a_ij| into [0.5, 1) (1 for the zero matrix).
 * Two factors because a single 2^±1074 is not representable.
 */
function symmetrizeScaled(
  a: ArrayLike<number>,
  n: number,
  who: string,
  A: Float64Array,
): { s1: number; s2: number } {
  let big = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      const x = a[i * n + j];
      const y = a[j * n + i];
      if (!Number.isFinite(x) || !Number.isFinite(y)) {
        const [r, c] = Number.isFinite(x) ? [j, i] : [i, j];
        throw new NonFiniteError(`${who}: non-finite entry at (${r}, ${c})`);
      }
      // x/2 + y/2 cannot overflow where (x + y)/2 could.
      const v = 0.5 * x + 0.5 * y;
      A[i * n + j] = v;
      A[j * n + i] = v;
      big = Math.max(big, Math.abs(v));
    }
  }
  let s1 = 1;
  let s2 = 1;
  if (big > 0) {
    const exp = Math.floor(Math.log2(big)) + 1;
    const half = Math.trunc(-exp / 2);
    s1 = 2 ** half;
    s2 = 2 ** (-exp - half);
    if (exp !== 0) for (let i = 0; i < n * n; i++) A[i] = A[i] * s1 * s2;
  }
  return { s1, s2 };
}

function checkFinite(values: Float64Array, n: number, vectors: Float64Array | null): void {
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(values[i])) throw new ConvergenceError('eigh: non-finite eigenvalue in the result');
  }
  if (vectors !== null) {
    for (let i = 0; i < n * n; i++) {
      if (!Number.isFinite(vectors[i]))
        throw new ConvergenceError('eigh: non-finite eigenvector in the result');
    }
  }
}
