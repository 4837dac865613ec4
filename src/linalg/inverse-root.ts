import { NonFiniteError } from '../errors.ts';
import { copyFinite, finiteCopy, outputBuffer } from './dense.ts';
import { eigh } from './eigh.ts';
import { withWorkspace } from './engine.ts';
import { gemmNT, mirrorLower } from './gemm-nt.ts';

/**
 * How a factor is regularised before its inverse root is taken. The two kinds are the two references' rules,
 * which differ in where ε goes and whether it scales with the matrix.
 */
export type Ridge =
  | {
      /**
       * Distributed Shampoo (`matrix_inverse_root`, EigenConfig + PerturbationConfig), absolute ε:
       * - `perturbBeforeComputation` true (their default): `(λ, V) = eigh(A + εI)`, then, only if
       *   `λ_min < ε`, every eigenvalue is shifted: `λ ← λ − λ_min + ε`;
       * - false: `(λ, V) = eigh(A)`, then always `λ ← λ − min(λ_min, 0) + ε`.
       */
      kind: 'absolute';
      epsilon: number;
      perturbBeforeComputation?: boolean;
    }
  | {
      /**
       * 4-bit Shampoo (`compute_power` of low-bit-Shampoo, ALGORITHMS.md §5.3), relative ε:
       * `(λ, V) = eigh(A)`, `ρ = ε·max(λ)`, eigenvalues `λ + ρ`. If `λ_i + ρ ≤ 0` (A not positive
       * semi-definite, or A = 0) the reference would produce Inf or NaN; here that is an error unless
       * `minRidge > 0`, which bounds ρ from below: `ρ = max(ε·max λ, minRidge)`.
       */
      kind: 'relative';
      epsilon: number;
      minRidge?: number;
    };

/**
 * The eigenvalues a regularised inverse root uses, `μ_i`, from the eigenvalues λ (any order) of the matrix
 * that was decomposed, and their powers `μ_i^(−1/root)` in `out`.
 *
 * For the 'absolute' ridge with `perturbBeforeComputation` (the default), λ must be the eigenvalues of A + εI;
 * otherwise those of A itself. See {@link Ridge} for the formulas.
 *
 * @throws NonFiniteError if a regularised eigenvalue is not positive or a power is not finite.
 */
export function inverseRootEigenvalues(
  lambda: ArrayLike<number>,
  root: number,
  ridge: Ridge,
  out?: Float64Array,
): Float64Array {
  checkRoot(root);
  const n = lambda.length;
  const mu = outputBuffer(out, n, 'inverseRootEigenvalues');
  let lmin = Number.POSITIVE_INFINITY;
  let lmax = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    lmin = Math.min(lmin, lambda[i]);
    lmax = Math.max(lmax, lambda[i]);
  }
  if (ridge.kind === 'absolute') {
    const eps = ridge.epsilon;
    const before = ridge.perturbBeforeComputation ?? true;
    // The reference adds its two perturbations one after the other; so does this.
    for (let i = 0; i < n; i++) {
      let x = lambda[i];
      if (before) {
        if (lmin < eps) x = x - lmin + eps;
      } else {
        x = x - Math.min(lmin, 0) + eps;
      }
      mu[i] = x;
    }
  } else {
    const rho = Math.max(ridge.epsilon * lmax, ridge.minRidge ?? 0);
    for (let i = 0; i < n; i++) mu[i] = lambda[i] + rho;
  }
  const e = -1 / root;
  for (let i = 0; i < n; i++) {
    const x = mu[i];
    if (!(x > 0)) {
      throw new NonFiniteError(
        `inverse root: regularised eigenvalue ${x} ≤ 0 (λ_min = ${lmin}, λ_max = ${lmax}); the matrix is not positive semi-definite enough for this ridge`,
      );
    }
    const p = x ** e;
    if (!Number.isFinite(p)) throw new NonFiniteError(`inverse root: ${x}^(${e}) is not finite`);
    mu[i] = p;
  }
  return mu;
}

/**
 * `V·Diag(s)·Vᵀ` for V n×k (row-major; columns are the vectors) and s (k): the matrix function of an
 * eigendecomposition. Computed as one symmetric product (n²k flops) and made exactly symmetric.
 */
export function eigenReconstruct(
  vectors: ArrayLike<number>,
  n: number,
  k: number,
  s: ArrayLike<number>,
  out?: Float64Array,
): Float64Array {
  const result = outputBuffer(out, n * n, 'eigenReconstruct');
  withWorkspace(2 * n * k + n * n, (ws) => {
    const V = copyFinite(vectors, n * k, 'eigenReconstruct', ws.f64(n * k));
    const vs = ws.f64(n * k);
    for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) vs[i * k + j] = V[i * k + j] * s[j];
    const c = ws.f64(n * n);
    gemmNT(n, n, k, 1, vs, 0, k, V, 0, k, 0, c, 0, n, 'lower');
    mirrorLower(n, c, 0, n);
    result.set(c.subarray(0, n * n));
  });
  return result;
}

/**
 * `A^(−1/root)` of a symmetric positive semi-definite n×n matrix (row-major, symmetrised first, not modified) by
 * eigendecomposition with a ridge: `V·Diag(μ^(−1/root))·Vᵀ` with μ the regularised eigenvalues of
 * {@link Ridge}. `root` is any positive number (4 for Shampoo's 2-D factors, 2 for 1-D, 2k for order-k tensors).
 *
 * @throws NonFiniteError on non-finite input, or when the regularised spectrum is not positive.
 */
export function matrixInverseRoot(
  a: ArrayLike<number>,
  n: number,
  root: number,
  ridge: Ridge,
  out?: Float64Array,
): Float64Array {
  checkRoot(root);
  let input: ArrayLike<number> = a;
  if (ridge.kind === 'absolute' && (ridge.perturbBeforeComputation ?? true) && ridge.epsilon !== 0) {
    const shifted = finiteCopy(a, n * n, 'matrixInverseRoot');
    for (let i = 0; i < n; i++) shifted[i * n + i] += ridge.epsilon;
    input = shifted;
  }
  const { values, vectors } = eigh(input, n);
  const s = inverseRootEigenvalues(values, root, ridge);
  return eigenReconstruct(vectors, n, n, s, out);
}

function checkRoot(root: number): void {
  if (!(root > 0) || !Number.isFinite(root))
    throw new RangeError(`inverse root: root must be > 0, got ${root}`);
}
