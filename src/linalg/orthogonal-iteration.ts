import { copyFinite, outputBuffer } from './dense.ts';
import { withWorkspace } from './engine.ts';
import { gemmNT, transposeInto } from './gemm-nt.ts';
import { type QrSign, qrInto, qrScratch } from './qr.ts';

/**
 * One step of warm-started orthogonal (subspace) iteration, `Q ← qr(A·Q).Q` (ALGORITHMS.md P3): the basis
 * refresh of SOAP, KL-Shampoo/KL-SOAP and 4-bit Shampoo. A is n×n (not assumed symmetric), Q is n×k with k ≤ n,
 * both row-major; the result is the thin Q (n×k) of the product, with the given sign convention ('lapack' to
 * reproduce torch.linalg.qr). Inputs are not modified.
 *
 * (A·Q)ᵀ = Qᵀ·Aᵀ is formed directly in the layout the QR works in, so the step costs one product (2n²k flops)
 * plus one QR (≈ 4n·k² − (4/3)k³ flops).
 *
 * @throws NonFiniteError if A or Q holds NaN or ±Infinity.
 */
export function orthogonalIterationStep(
  a: ArrayLike<number>,
  q: ArrayLike<number>,
  n: number,
  k: number = n,
  sign: QrSign = 'positive-diagonal',
  out?: Float64Array,
): Float64Array {
  if (k > n || k < 0) throw new RangeError(`orthogonalIterationStep: needs k ≤ n, got k = ${k}, n = ${n}`);
  const result = outputBuffer(out, n * k, 'orthogonalIterationStep');
  withWorkspace(n * n + 3 * n * k + qrScratch(n, k), (ws) => {
    const A = copyFinite(a, n * n, 'orthogonalIterationStep (A)', ws.f64(n * n));
    const Q = copyFinite(q, n * k, 'orthogonalIterationStep (Q)', ws.f64(n * k));
    const qt = ws.f64(k * n);
    transposeInto(n, k, Q, 0, k, qt, 0, n);
    // at[j][i] = (A·Q)[i][j] = Σ_l Qᵀ[j][l]·A[i][l]
    const at = ws.f64(k * n);
    gemmNT(k, n, n, 1, qt, 0, n, A, 0, n, 0, at, 0, n);
    qrInto(at, n, k, sign, result, undefined, ws);
  });
  return result;
}
