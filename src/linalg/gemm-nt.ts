import { wasmFor } from './engine.ts';

/**
 * The one dense product the linear algebra is built on: `C = alpha·A·Bᵀ + beta·C` in float64, with A m×k and
 * B n×k, both read along contiguous rows. Every other product (A·B, Aᵀ·B, V·Diag·Vᵀ) is rearranged by the callers
 * (an O(n²) transpose) into this form, because a dot-product kernel over two contiguous rows is what V8 runs
 * fastest: a 3×3 register tile keeps nine accumulators and six operands in the sixteen SSE registers and reaches
 * about 5 GFlop/s on one core, about twice an axpy-style (i-k-j) loop.
 *
 * Operands are addressed as `X[off + row·ld + col]`, so sub-matrices of larger arrays can be passed without copies.
 * C must not overlap A or B.
 *
 * When A, B and C are views into the memory of the running linear-algebra workspace (src/linalg/engine.ts), the
 * WASM twin `dgemmNT` (assembly/linalg.ts: the same tiles, two k per SIMD lane pair) runs instead.
 */

/** Depth of one pass over k: keeps three rows of A and a column panel of B in L1/L2 across the tile loop. */
const KB = 256;
/** Width (in rows of B) of one column panel of C. A multiple of 3. */
const JB = 96;

/** Which part of C to compute. 'lower' computes j ≤ i only (up to whole 3×3 tiles straddling the diagonal). */
export type GemmPart = 'full' | 'lower';

export function gemmNT(
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float64Array,
  aOff: number,
  lda: number,
  b: Float64Array,
  bOff: number,
  ldb: number,
  beta: number,
  c: Float64Array,
  cOff: number,
  ldc: number,
  part: GemmPart = 'full',
): void {
  const wasm = wasmFor(a, b, c);
  if (wasm !== null) {
    wasm.exports.dgemmNT(
      m,
      n,
      k,
      alpha,
      a.byteOffset + 8 * aOff,
      lda,
      b.byteOffset + 8 * bOff,
      ldb,
      beta,
      c.byteOffset + 8 * cOff,
      ldc,
      part === 'lower' ? 1 : 0,
      wasm.scratch,
    );
    return;
  }
  gemmNTScalar(m, n, k, alpha, a, aOff, lda, b, bOff, ldb, beta, c, cOff, ldc, part);
}

/** The TypeScript kernel of {@link gemmNT} (the fallback, and the oracle of the WASM twin). */
export function gemmNTScalar(
  m: number,
  n: number,
  k: number,
  alpha: number,
  a: Float64Array,
  aOff: number,
  lda: number,
  b: Float64Array,
  bOff: number,
  ldb: number,
  beta: number,
  c: Float64Array,
  cOff: number,
  ldc: number,
  part: GemmPart = 'full',
): void {
  if (m <= 0 || n <= 0) return;
  const lower = part === 'lower';
  // Scale C by beta once; the tile loops below only accumulate.
  if (beta !== 1) {
    for (let i = 0; i < m; i++) {
      const r = cOff + i * ldc;
      const jEnd = lower ? Math.min(n, i + 1) : n;
      if (beta === 0) c.fill(0, r, r + jEnd);
      else for (let j = 0; j < jEnd; j++) c[r + j] *= beta;
    }
  }
  if (k <= 0 || alpha === 0) return;
  const m3 = m - (m % 3);
  for (let kk = 0; kk < k; kk += KB) {
    const ke = Math.min(k, kk + KB);
    for (let jj = 0; jj < n; jj += JB) {
      const je = Math.min(n, jj + JB);
      const je3 = jj + (je - jj) - ((je - jj) % 3);
      for (let i = 0; i < m3; i += 3) {
        if (lower && jj > i + 2) continue;
        const a0 = aOff + i * lda;
        const a1 = a0 + lda;
        const a2 = a1 + lda;
        const c0 = cOff + i * ldc;
        const c1 = c0 + ldc;
        const c2 = c1 + ldc;
        const jLim = lower ? Math.min(je3, i + 3) : je3;
        let j = jj;
        for (; j < jLim; j += 3) {
          const b0 = bOff + j * ldb;
          const b1 = b0 + ldb;
          const b2 = b1 + ldb;
          let s00 = 0;
          let s01 = 0;
          let s02 = 0;
          let s10 = 0;
          let s11 = 0;
          let s12 = 0;
          let s20 = 0;
          let s21 = 0;
          let s22 = 0;
          for (let p = kk; p < ke; p++) {
            const x0 = a[a0 + p];
            const x1 = a[a1 + p];
            const x2 = a[a2 + p];
            const y0 = b[b0 + p];
            const y1 = b[b1 + p];
            const y2 = b[b2 + p];
            s00 += x0 * y0;
            s01 += x0 * y1;
            s02 += x0 * y2;
            s10 += x1 * y0;
            s11 += x1 * y1;
            s12 += x1 * y2;
            s20 += x2 * y0;
            s21 += x2 * y1;
            s22 += x2 * y2;
          }
          c[c0 + j] += alpha * s00;
          c[c0 + j + 1] += alpha * s01;
          c[c0 + j + 2] += alpha * s02;
          c[c1 + j] += alpha * s10;
          c[c1 + j + 1] += alpha * s11;
          c[c1 + j + 2] += alpha * s12;
          c[c2 + j] += alpha * s20;
          c[c2 + j + 1] += alpha * s21;
          c[c2 + j + 2] += alpha * s22;
        }
        // Leftover columns of this panel (fewer than 3), only in the full case or near the diagonal.
        const jTail = lower ? Math.min(je, i + 3) : je;
        for (; j < jTail; j++) {
          const b0 = bOff + j * ldb;
          let s0 = 0;
          let s1 = 0;
          let s2 = 0;
          for (let p = kk; p < ke; p++) {
            const y = b[b0 + p];
            s0 += a[a0 + p] * y;
            s1 += a[a1 + p] * y;
            s2 += a[a2 + p] * y;
          }
          c[c0 + j] += alpha * s0;
          c[c1 + j] += alpha * s1;
          c[c2 + j] += alpha * s2;
        }
      }
      // Leftover rows (fewer than 3).
      for (let i = m3; i < m; i++) {
        const a0 = aOff + i * lda;
        const c0 = cOff + i * ldc;
        const jEnd = lower ? Math.min(je, i + 1) : je;
        for (let j = jj; j < jEnd; j++) {
          const b0 = bOff + j * ldb;
          let s = 0;
          for (let p = kk; p < ke; p++) s += a[a0 + p] * b[b0 + p];
          c[c0 + j] += alpha * s;
        }
      }
    }
  }
}

/** `out[j·ldo + i] = src[i·lds + j]` for an rows×cols block: out receives the cols×rows transpose. */
export function transposeInto(
  rows: number,
  cols: number,
  src: ArrayLike<number>,
  sOff: number,
  lds: number,
  out: Float64Array,
  oOff: number,
  ldo: number,
): void {
  // 32×32 tiles keep both the read and the write side in cache.
  const T = 32;
  for (let ii = 0; ii < rows; ii += T) {
    const ie = Math.min(rows, ii + T);
    for (let jj = 0; jj < cols; jj += T) {
      const je = Math.min(cols, jj + T);
      for (let i = ii; i < ie; i++) {
        const s = sOff + i * lds;
        for (let j = jj; j < je; j++) out[oOff + j * ldo + i] = src[s + j];
      }
    }
  }
}

/** Copies the strictly lower triangle of an n×n block onto the upper one, making it exactly symmetric. */
export function mirrorLower(n: number, c: Float64Array, cOff: number, ldc: number): void {
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) c[cOff + i * ldc + j] = c[cOff + j * ldc + i];
  }
}
