/**
 * Products whose result is symmetric and whose left factor is upper triangular, as in `S ← R·W` after a QR
 * `S = W·R` (the full refresh of the bf16 store): only one triangle is computed, then mirrored.
 */
import type { F32Buffer, Kernels } from '../kernels/index.ts';

/** Rows per block of `upperOfTriangularProduct`: a multiple of the GEMM's register tile. */
const TRIANGLE_BLOCK = 64;

/**
 * The upper triangle (with the diagonal) of `R·W` into `out`, R upper triangular, all d×d; `out`'s strict lower
 * triangle is left unspecified. Row block [i0, i1) needs only R[i0:i1, i0:]·W[i0:, i0:] (R is zero left of
 * column i0 in these rows, and only columns ≥ i0 are wanted): ≈ ⅔d³ flops instead of the full product's 2d³.
 */
export function upperOfTriangularProduct(
  kernels: Kernels,
  d: number,
  r: F32Buffer,
  w: F32Buffer,
  out: F32Buffer,
): void {
  for (let i0 = 0; i0 < d; i0 += TRIANGLE_BLOCK) {
    const rows = Math.min(TRIANGLE_BLOCK, d - i0);
    const rest = d - i0;
    const at = i0 * d + i0;
    const span = (rows - 1) * d + rest;
    kernels.gemmStrided(
      false,
      false,
      rows,
      rest,
      rest,
      1,
      r.slice(at, span),
      d,
      w.slice(at, (rest - 1) * d + rest),
      d,
      0,
      out.slice(at, span),
      d,
    );
  }
}

/** `out ← a`'s upper triangle (with the diagonal) mirrored below, d×d; tiled so the mirrored writes stay cached. */
export function mirrorUpper(a: Float32Array, d: number, out: Float32Array): void {
  const tile = 64;
  for (let i0 = 0; i0 < d; i0 += tile) {
    const i1 = Math.min(i0 + tile, d);
    for (let j0 = i0; j0 < d; j0 += tile) {
      const j1 = Math.min(j0 + tile, d);
      for (let i = i0; i < i1; i++) {
        const row = i * d;
        for (let j = Math.max(j0, i); j < j1; j++) {
          const x = a[row + j];
          out[row + j] = x;
          out[j * d + i] = x;
        }
      }
    }
  }
}
