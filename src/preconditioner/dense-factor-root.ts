import { eigh, inverseRootEigenvalues } from '../linalg/index.ts';
import { type EigenFactorScratch, eigenReconstructInto, SMALLEST_NORMAL_F32 } from './eigen-factor.ts';
import type { MatrixArithmetic } from './matrix-arithmetic.ts';
import type { RefreshStatus } from './refresh-status.ts';

/**
 * Inverse root of a factor held densely (the naive low-precision forms, where the factor A itself is stored):
 * `A^(−exponent)` by a float64 eigendecomposition of A, with the 4-bit Shampoo paper's relative ridge: the
 * eigenvalues, negative ones (which a quantized A can have) clamped to 0, plus `ρ = matrixEps·max λ` (floored
 * at the smallest normal float32). `a` (n×n) is read only; `out` receives the candidate root, valid only
 * when 'ok'. Uses `scratch.v`, `scratch.w` and `scratch.s`.
 */
export function denseFactorRoot<M>(
  ar: MatrixArithmetic<M>,
  a: M,
  n: number,
  exponent: number,
  matrixEps: number,
  scratch: EigenFactorScratch<M>,
  out: M,
): RefreshStatus {
  const nn = n * n;
  if (!ar.allFinite(ar.slice(a, 0, nn))) return 'non-finite-input';
  let values: Float64Array;
  let vectors: Float64Array;
  try {
    ({ values, vectors } = eigh(ar.view(a).subarray(0, nn), n));
  } catch {
    return 'solver-failed';
  }
  for (let i = 0; i < n; i++) values[i] = Math.max(values[i], 0);
  let mu: Float64Array;
  try {
    mu = inverseRootEigenvalues(values, 1 / exponent, {
      kind: 'relative',
      epsilon: matrixEps,
      minRidge: SMALLEST_NORMAL_F32,
    });
  } catch {
    return 'non-finite-output';
  }
  // Rows of `v` = eigenvectors, as the eigen-parametrized factor keeps them.
  const v = ar.view(scratch.v);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) v[j * n + i] = vectors[i * n + j];
  eigenReconstructInto(ar, scratch.v, mu, n, scratch, out);
  return ar.allFinite(ar.slice(out, 0, nn)) ? 'ok' : 'non-finite-output';
}
