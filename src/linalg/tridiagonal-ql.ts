import { ConvergenceError } from '../errors.ts';

const EPS = 2 ** -52;

/**
 * √(a² + b²). Math.hypot is exact but slow in V8 (it dominated the QL loop); the plain formula is used when
 * the sum of squares is safely normal, hypot otherwise.
 */
export function pythag(a: number, b: number): number {
  const s = a * a + b * b;
  return s > 1e-290 && s < 1e290 ? Math.sqrt(s) : Math.hypot(a, b);
}
/** Iterations allowed per eigenvalue; QL with Wilkinson's shift needs 1–3 on average. */
const MAX_ITER = 60;

/**
 * Eigenvalues (and optionally eigenvectors) of the symmetric tridiagonal matrix with diagonal `d[0..n)` and
 * off-diagonal `e[0..n−1)` by the implicit QL algorithm with Wilkinson's shift. Overwrites d with the eigenvalues
 * (unsorted; see {@link sortEigenpairs}) and destroys e, which must have room for n entries.
 *
 * If z is given, every rotation is also applied to the n×n block `z[zOff + r·ldz + c]`: start from the identity
 * to get the eigenvectors of the tridiagonal matrix, as columns (`vectorsInRows` false) or as rows (true; the
 * rotations then combine two contiguous rows, which is much faster). Cost O(n²) without vectors, ≈ 3n³ flops
 * with them, so this is used for eigenvalues only and for the small leaves of divide and conquer.
 *
 * @throws ConvergenceError if an eigenvalue needs more than 60 iterations.
 */
export function tridiagonalQl(
  d: Float64Array,
  e: Float64Array,
  n: number,
  z: Float64Array | null,
  zOff = 0,
  ldz = n,
  vectorsInRows = false,
): void {
  if (n <= 1) return;
  e[n - 1] = 0;
  for (let l = 0; l < n; l++) {
    let iter = 0;
    for (;;) {
      // Find the first negligible off-diagonal at or after l: the block [l, m] is unreduced.
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]) + Math.abs(d[m + 1]);
        if (Math.abs(e[m]) <= EPS * dd) break;
      }
      if (m === l) break;
      if (++iter > MAX_ITER) {
        throw new ConvergenceError(
          `tridiagonal QL: eigenvalue ${l} did not converge in ${MAX_ITER} iterations`,
        );
      }
      // Wilkinson shift from the leading 2×2 block, folded into the first rotation's g.
      let g = (d[l + 1] - d[l]) / (2 * e[l]);
      let r = pythag(g, 1);
      g = d[m] - d[l] + e[l] / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let p = 0;
      let i = m - 1;
      let underflow = false;
      // Chase the bulge from the bottom of the block to the top.
      for (; i >= l; i--) {
        const f = s * e[i];
        const b = c * e[i];
        r = pythag(f, g);
        e[i + 1] = r;
        if (r === 0) {
          // The bulge vanished: deflate here and restart the sweep.
          d[i + 1] -= p;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1] - p;
        r = (d[i] - g) * s + 2 * c * b;
        p = s * r;
        d[i + 1] = g + p;
        g = c * r - b;
        if (z !== null) {
          if (vectorsInRows) {
            // Rotate rows i and i+1 of z.
            const r0 = zOff + i * ldz;
            const r1 = r0 + ldz;
            for (let k = 0; k < n; k++) {
              const zi = z[r0 + k];
              const zi1 = z[r1 + k];
              z[r1 + k] = s * zi + c * zi1;
              z[r0 + k] = c * zi - s * zi1;
            }
          } else {
            // Rotate columns i and i+1 of z.
            let idx = zOff + i;
            for (let k = 0; k < n; k++, idx += ldz) {
              const zi = z[idx];
              const zi1 = z[idx + 1];
              z[idx + 1] = s * zi + c * zi1;
              z[idx] = c * zi - s * zi1;
            }
          }
        }
      }
      if (underflow) continue;
      d[l] -= p;
      e[l] = g;
      e[m] = 0;
    }
  }
}

/**
 * Sorts eigenvalues ascending and moves the columns of the n×n block `z[zOff + r·ldz + c]` along (selection
 * sort: n swaps at most, which is what matters for the O(n) column moves).
 */
export function sortEigenpairs(d: Float64Array, n: number, z: Float64Array | null, zOff = 0, ldz = n): void {
  for (let i = 0; i < n - 1; i++) {
    let k = i;
    for (let j = i + 1; j < n; j++) if (d[j] < d[k]) k = j;
    if (k === i) continue;
    const t = d[i];
    d[i] = d[k];
    d[k] = t;
    if (z !== null) {
      for (let r = 0; r < n; r++) {
        const a = zOff + r * ldz;
        const u = z[a + i];
        z[a + i] = z[a + k];
        z[a + k] = u;
      }
    }
  }
}
