import { copyFinite, outputBuffer } from './dense.ts';
import { withWorkspace } from './engine.ts';
import { gemmNT, mirrorLower, transposeInto } from './gemm-nt.ts';

/**
 * Björck orthonormalisation (first-order Newton–Schulz), `V ← 1.5·V − 0.5·V·Vᵀ·V`, repeated `iterations` times
 * (ALGORITHMS.md P5). V is rows×cols row-major and close to having orthonormal columns (rows ≥ cols) or rows
 * (rows < cols); the 4-bit optimizer applies it to the stored Vᵀ, which is the same iteration transposed.
 *
 * Each step maps every singular value σ to 1.5σ − 0.5σ³: it converges (quadratically near 1) when all σ lie in
 * (0, √3). The Gram matrix is formed on the short side (VᵀV or VVᵀ) and symmetrically, so a step costs
 * about 3·rows·cols·min(rows, cols) flops. Returns a new array (or `out`); v is not modified.
 *
 * @throws NonFiniteError if V holds NaN or ±Infinity.
 */
export function bjorck(
  v: ArrayLike<number>,
  rows: number,
  cols: number,
  iterations: number,
  out?: Float64Array,
): Float64Array {
  if (!Number.isInteger(iterations) || iterations < 0) {
    throw new RangeError(`bjorck: iterations must be a non-negative integer, got ${iterations}`);
  }
  const size = rows * cols;
  const result = outputBuffer(out, size, 'bjorck');
  const s = Math.min(rows, cols);
  withWorkspace(3 * size + s * s, (ws) => {
    const V = copyFinite(v, size, 'bjorck', ws.f64(size));
    iterate(V, rows, cols, iterations, ws.f64(size), ws.f64(s * s), ws.f64(size));
    result.set(V);
  });
  return result;
}

function iterate(
  V: Float64Array,
  rows: number,
  cols: number,
  iterations: number,
  vt: Float64Array,
  g: Float64Array,
  c: Float64Array,
): void {
  const size = rows * cols;
  for (let it = 0; it < iterations; it++) {
    transposeInto(rows, cols, V, 0, cols, vt, 0, rows);
    if (rows >= cols) {
      // G = VᵀV (cols×cols); C = V·G, using G's symmetry to read its rows as columns.
      gemmNT(cols, cols, rows, 1, vt, 0, rows, vt, 0, rows, 0, g, 0, cols, 'lower');
      mirrorLower(cols, g, 0, cols);
      gemmNT(rows, cols, cols, 1, V, 0, cols, g, 0, cols, 0, c, 0, cols);
    } else {
      // G = VVᵀ (rows×rows); C = G·V = G·(Vᵀ)ᵀ.
      gemmNT(rows, rows, cols, 1, V, 0, cols, V, 0, cols, 0, g, 0, rows, 'lower');
      mirrorLower(rows, g, 0, rows);
      gemmNT(rows, cols, rows, 1, g, 0, rows, vt, 0, rows, 0, c, 0, cols);
    }
    for (let i = 0; i < size; i++) V[i] = 1.5 * V[i] - 0.5 * c[i];
  }
}
