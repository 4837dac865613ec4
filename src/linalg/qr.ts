import { NonFiniteError } from '../errors.ts';

/**
 * Column-sign convention of Q.
 * - 'positive-diagonal': columns flipped so that diag(R) ≥ 0 (reproducible across libraries).
 * - 'lapack': Householder's own signs, `R_kk = −sign(a_kk)·‖x‖` (what torch/LAPACK return; the 4-bit
 *   quantizer's asymmetric codebook makes the sign observable).
 */
export type QrSign = 'positive-diagonal' | 'lapack';

/**
 * Householder QR of a row-major rows×cols matrix (rows ≥ cols). Returns the thin Q (rows×cols, row-major).
 * The input is not modified.
 */
export function qr(
  a: ArrayLike<number>,
  rows: number,
  cols: number,
  sign: QrSign = 'positive-diagonal',
): Float64Array {
  if (cols > rows) throw new RangeError(`qr: needs rows ≥ cols, got ${rows}×${cols}`);
  const R = Float64Array.from(a as ArrayLike<number>);
  for (let i = 0; i < R.length; i++) {
    if (!Number.isFinite(R[i])) throw new NonFiniteError(`qr: non-finite entry at index ${i}`);
  }
  const vs: Float64Array[] = [];
  const taus = new Float64Array(cols);
  const rdiag = new Float64Array(cols);
  for (let k = 0; k < cols; k++) {
    let norm2 = 0;
    for (let i = k; i < rows; i++) norm2 += R[i * cols + k] ** 2;
    const norm = Math.sqrt(norm2);
    const akk = R[k * cols + k];
    const v = new Float64Array(rows - k);
    if (norm === 0) {
      vs.push(v);
      taus[k] = 0;
      rdiag[k] = 0;
      continue;
    }
    // LAPACK dlarfg: beta = −sign(alpha)·‖x‖; H = I − tau·v·vᵀ with v[0] = 1.
    const beta = akk >= 0 ? -norm : norm;
    const tau = (beta - akk) / beta;
    const scale = 1 / (akk - beta);
    v[0] = 1;
    for (let i = k + 1; i < rows; i++) v[i - k] = R[i * cols + k] * scale;
    for (let j = k; j < cols; j++) {
      let dot = 0;
      for (let i = k; i < rows; i++) dot += v[i - k] * R[i * cols + j];
      dot *= tau;
      for (let i = k; i < rows; i++) R[i * cols + j] -= dot * v[i - k];
    }
    vs.push(v);
    taus[k] = tau;
    rdiag[k] = beta;
  }
  // Form thin Q = H_0 ⋯ H_{cols−1} · I[:, :cols] by backward accumulation.
  const Q = new Float64Array(rows * cols);
  for (let i = 0; i < cols; i++) Q[i * cols + i] = 1;
  for (let k = cols - 1; k >= 0; k--) {
    const v = vs[k];
    const tau = taus[k];
    if (tau === 0) continue;
    for (let j = 0; j < cols; j++) {
      let dot = 0;
      for (let i = k; i < rows; i++) dot += v[i - k] * Q[i * cols + j];
      dot *= tau;
      for (let i = k; i < rows; i++) Q[i * cols + j] -= dot * v[i - k];
    }
  }
  if (sign === 'positive-diagonal') {
    for (let j = 0; j < cols; j++) {
      if (rdiag[j] < 0) for (let i = 0; i < rows; i++) Q[i * cols + j] = -Q[i * cols + j];
    }
  }
  return Q;
}
