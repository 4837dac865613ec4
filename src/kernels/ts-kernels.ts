import type { Arena, F32Buffer } from './arena.ts';
import { checkElementwise, checkGemm, checkGemmStrided, checkScale, checkSyrk } from './checks.ts';
import type { Kernels } from './types.ts';

/**
 * Pure-TypeScript twin of every kernel: the fallback where WASM SIMD is unavailable and the oracle the WASM
 * builds are tested against. Products accumulate in float64 (JavaScript numbers) and round once to float32.
 */
export class TsKernels implements Kernels {
  readonly engine = 'typescript' as const;
  readonly arena: Arena;

  constructor(arena: Arena) {
    this.arena = arena;
  }

  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: F32Buffer,
    b: F32Buffer,
    beta: number,
    c: F32Buffer,
  ): void {
    checkGemm(m, n, k, a, b, c);
    this.product(transA, transB, m, n, k, alpha, a, transA ? m : k, b, transB ? k : n, beta, c, n);
  }

  gemmStrided(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: F32Buffer,
    lda: number,
    b: F32Buffer,
    ldb: number,
    beta: number,
    c: F32Buffer,
    ldc: number,
  ): void {
    checkGemmStrided(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
    this.product(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }

  /** The product behind gemm and gemmStrided (arguments already checked). */
  private product(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: F32Buffer,
    lda: number,
    b: F32Buffer,
    ldb: number,
    beta: number,
    c: F32Buffer,
    ldc: number,
  ): void {
    const A = a.view();
    const B = b.view();
    const C = c.view();
    // A(i, p) and B(p, j) with the storage order given by the transposition flags.
    const aRow = transA ? 1 : lda;
    const aCol = transA ? lda : 1;
    const bRow = transB ? 1 : ldb;
    const bCol = transB ? ldb : 1;
    // One float64 row of sums per row of C; the p-then-j order walks B row by row when it is not transposed.
    const acc = new Float64Array(n);
    for (let i = 0; i < m; i++) {
      acc.fill(0);
      for (let p = 0; p < k; p++) {
        const aip = A[i * aRow + p * aCol];
        for (let j = 0; j < n; j++) acc[j] += aip * B[p * bRow + j * bCol];
      }
      for (let j = 0; j < n; j++) {
        const idx = i * ldc + j;
        C[idx] = beta === 0 ? alpha * acc[j] : alpha * acc[j] + beta * C[idx];
      }
    }
  }

  syrk(trans: boolean, n: number, k: number, alpha: number, a: F32Buffer, beta: number, c: F32Buffer): void {
    checkSyrk(n, k, a, c);
    const A = a.view();
    const C = c.view();
    // Row i of op(A) (n×k): element p sits at i·k + p (A·Aᵀ) or at p·n + i (Aᵀ·A).
    const rowStride = trans ? 1 : k;
    const colStride = trans ? n : 1;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++)
          acc += A[i * rowStride + p * colStride] * A[j * rowStride + p * colStride];
        const v = beta === 0 ? alpha * acc : alpha * acc + beta * C[i * n + j];
        C[i * n + j] = v;
        C[j * n + i] = C[i * n + j];
      }
    }
  }

  axpby(alpha: number, x: F32Buffer, beta: number, y: F32Buffer): void {
    checkElementwise('axpby', y, { x });
    const X = x.view();
    const Y = y.view();
    for (let i = 0; i < Y.length; i++) Y[i] = alpha * X[i] + beta * Y[i];
  }

  emaSquare(beta: number, y: F32Buffer, alpha: number, x: F32Buffer): void {
    checkElementwise('emaSquare', y, { x });
    const X = x.view();
    const Y = y.view();
    for (let i = 0; i < Y.length; i++) Y[i] = beta * Y[i] + alpha * X[i] * X[i];
  }

  adamMoments(g: F32Buffer, m: F32Buffer, v: F32Buffer, beta1: number, beta2: number): void {
    checkElementwise('adamMoments', m, { g, v });
    const G = g.view();
    const M = m.view();
    const V = v.view();
    for (let i = 0; i < M.length; i++) {
      const gi = G[i];
      M[i] = beta1 * M[i] + (1 - beta1) * gi;
      V[i] = beta2 * V[i] + (1 - beta2) * gi * gi;
    }
  }

  adamDirection(m: F32Buffer, v: F32Buffer, vScale: number, eps: number, out: F32Buffer): void {
    checkElementwise('adamDirection', out, { m, v });
    const M = m.view();
    const V = v.view();
    const O = out.view();
    for (let i = 0; i < O.length; i++) O[i] = M[i] / (Math.sqrt(V[i]) * vScale + eps);
  }

  sumSquares(x: F32Buffer): number {
    const X = x.view();
    let acc = 0;
    for (let i = 0; i < X.length; i++) acc += X[i] * X[i];
    return acc;
  }

  scaleRows(x: F32Buffer, rows: number, cols: number, s: F32Buffer): void {
    checkScale('scaleRows', rows, cols, x, s, rows);
    const X = x.view();
    const S = s.view();
    for (let i = 0; i < rows; i++) {
      const si = S[i];
      for (let j = 0; j < cols; j++) X[i * cols + j] *= si;
    }
  }

  scaleCols(x: F32Buffer, rows: number, cols: number, s: F32Buffer): void {
    checkScale('scaleCols', rows, cols, x, s, cols);
    const X = x.view();
    const S = s.view();
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) X[i * cols + j] *= S[j];
  }

  allFinite(x: F32Buffer): boolean {
    const X = x.view();
    for (let i = 0; i < X.length; i++) if (!Number.isFinite(X[i])) return false;
    return true;
  }
}
