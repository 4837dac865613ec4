/**
 * Choosing the index set J of a subspace basis refresh (ALGORITHMS.md §6.2, a reconstruction). Positions refer
 * to the columns of the current basis after any Rayleigh sort, so for SOAP position 0 is the largest
 * eigenvalue estimate. Every rule returns J in ascending position order, which makes k = d the full refresh
 * `qr(S)` (QR depends on the column order).
 */
import type { SubspaceSelection } from './precision.ts';

/** The k indices with the largest `score` (ties to the lower index), written ascending into `out`. */
function topK(score: Float64Array, d: number, k: number, out: Int32Array): void {
  const idx = Array.from({ length: d }, (_, i) => i);
  idx.sort((a, b) => score[b] - score[a] || a - b);
  for (let t = 0; t < k; t++) out[t] = idx[t];
  out.subarray(0, k).sort();
}

/**
 * Writes J (k ascending positions) into `out` for the rotated factor `s` (d×d row-major, fp32; its diagonal
 * holds the eigenvalue estimates σ):
 * - 'offdiag-energy': the k largest `e_i = Σ_{j≠i} S_ij²/(σ_i·σ_j)` (the most misaligned directions; a
 *   direction with σ ≤ 0 has no statistics and scores 0);
 * - 'round-robin': k consecutive positions starting at `cursor·k` (mod d), so every direction is refreshed once
 *   every ⌈d/k⌉ refreshes;
 * - 'top-k': the k largest σ (the dominant subspace).
 */
export function selectSubspace(
  rule: SubspaceSelection,
  s: Float32Array,
  d: number,
  k: number,
  cursor: number,
  score: Float64Array,
  out: Int32Array,
): void {
  if (k >= d) {
    for (let t = 0; t < d; t++) out[t] = t;
    return;
  }
  if (rule === 'round-robin') {
    const start = (cursor * k) % d;
    for (let t = 0; t < k; t++) out[t] = (start + t) % d;
    out.subarray(0, k).sort();
    return;
  }
  if (rule === 'top-k') {
    for (let i = 0; i < d; i++) score[i] = s[i * d + i];
    topK(score, d, k, out);
    return;
  }
  const diag = new Float64Array(d);
  for (let i = 0; i < d; i++) diag[i] = s[i * d + i];
  for (let i = 0; i < d; i++) {
    const si = diag[i];
    let e = 0;
    if (si > 0) {
      const row = i * d;
      for (let j = 0; j < d; j++) {
        const sj = diag[j];
        if (j === i || !(sj > 0)) continue;
        const v = s[row + j];
        e += (v * v) / (si * sj);
      }
    }
    score[i] = e;
  }
  topK(score, d, k, out);
}
