import { copyFinite, outputBuffer } from './dense.ts';
import { withWorkspace } from './engine.ts';
import { gemmNT, transposeInto } from './gemm-nt.ts';

/** Rows of Qᵀ·Aᵀ formed at a time: bounds the scratch to 96·n entries. */
const CHUNK = 96;

/**
 * Rayleigh quotients `λ_j = (Qᵀ·A·Q)_jj = Σ_i (A·Q)_ij·Q_ij` for the k columns of Q (n×k) and A (n×n), without
 * forming Qᵀ·A·Q (ALGORITHMS.md P4): one product, 2n²k flops, accumulated in float64 whatever the input type
 * (the small eigenvalue estimates of a wide spectrum need it). A need not be symmetric: the diagonal of QᵀAQ
 * equals that of QᵀAᵀQ, which is what the row-by-row product below forms.
 *
 * @throws NonFiniteError if A or Q holds NaN or ±Infinity.
 */
export function rayleighQuotients(
  a: ArrayLike<number>,
  q: ArrayLike<number>,
  n: number,
  k: number = n,
  out?: Float64Array,
): Float64Array {
  if (k > n || k < 0) throw new RangeError(`rayleighQuotients: needs k ≤ n, got k = ${k}, n = ${n}`);
  const lambda = outputBuffer(out, k, 'rayleighQuotients');
  const chunk = Math.min(CHUNK, k);
  withWorkspace(n * n + 2 * n * k + chunk * n, (ws) => {
    const A = copyFinite(a, n * n, 'rayleighQuotients (A)', ws.f64(n * n));
    const Q = copyFinite(q, n * k, 'rayleighQuotients (Q)', ws.f64(n * k));
    const qt = ws.f64(k * n);
    transposeInto(n, k, Q, 0, k, qt, 0, n);
    const p = ws.f64(chunk * n);
    products(A, qt, p, n, k, lambda);
  });
  return lambda;
}

function products(
  A: Float64Array,
  qt: Float64Array,
  p: Float64Array,
  n: number,
  k: number,
  lambda: Float64Array,
) {
  for (let j0 = 0; j0 < k; j0 += CHUNK) {
    const rows = Math.min(CHUNK, k - j0);
    // p[r][i] = Σ_l Q[l][j0+r]·A[i][l] = (Qᵀ·Aᵀ)[j0+r][i]
    gemmNT(rows, n, n, 1, qt, j0 * n, n, A, 0, n, 0, p, 0, n);
    for (let r = 0; r < rows; r++) {
      const pr = r * n;
      const qr = (j0 + r) * n;
      let s = 0;
      for (let i = 0; i < n; i++) s += p[pr + i] * qt[qr + i];
      lambda[j0 + r] = s;
    }
  }
}
