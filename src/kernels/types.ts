import type { Arena, F32Buffer } from './arena.ts';

/** Which implementation runs the kernels. */
export type EngineName = 'wasm-relaxed-simd' | 'wasm-simd' | 'typescript';

/** The engines backed by a WebAssembly build. */
export type WasmEngineName = Exclude<EngineName, 'typescript'>;

/**
 * The raw WebAssembly instance behind a WASM engine, for code that calls its own AssemblyScript exports
 * (assembly/*.ts re-exported from assembly/index.ts). Pointers passed to `exports` are `ArenaBuffer.byteOffset`s
 * of buffers from the same arena; the instance's memory is `arena.memory`.
 */
export interface WasmHandle {
  readonly engine: WasmEngineName;
  readonly instance: WebAssembly.Instance;
  readonly exports: WebAssembly.Exports;
}

/**
 * The dense kernels an optimizer step needs. Matrices are row-major and contiguous: an `r×c` matrix occupies
 * `r·c` consecutive f32 elements of its buffer (a buffer may be longer; only the leading part is used).
 * Every engine implements the same contract; the TypeScript engine is the reference the others are tested against.
 */
export interface Kernels {
  readonly engine: EngineName;
  readonly arena: Arena;
  /** The WebAssembly instance, present on the WASM engines only. */
  readonly wasm?: WasmHandle;

  /**
   * `C = alpha·op(A)·op(B) + beta·C` with `op(A)` of size m×k and `op(B)` of size k×n; C is m×n.
   * `transA` means A is stored k×m; `transB` means B is stored n×k. With `beta = 0`, C is not read (NaN in C is
   * overwritten). C must not overlap A or B.
   */
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
  ): void;

  /**
   * {@link Kernels.gemm} on sub-matrices of larger row-major arrays, each with its own leading dimension
   * (elements between consecutive stored rows): op(A)(i, p) is `a[i·lda + p]`, or `a[p·lda + i]` when `transA`;
   * op(B)(p, j) is `b[p·ldb + j]`, or `b[j·ldb + p]` when `transB`; C(i, j) is `c[i·ldc + j]`. A sub-matrix
   * starting inside a buffer is passed as a `slice` of it. Only the m×n elements of C are written; C must not
   * overlap A or B (their spans are compared).
   */
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
  ): void;

  /**
   * Symmetric rank-k update into a full n×n matrix: `C = alpha·A·Aᵀ + beta·C` with A n×k (`trans = false`), or
   * `C = alpha·Aᵀ·A + beta·C` with A k×n (`trans = true`). Computes one triangle and mirrors it, so C is exactly
   * symmetric. With `beta = 0`, C is not read.
   */
  syrk(trans: boolean, n: number, k: number, alpha: number, a: F32Buffer, beta: number, c: F32Buffer): void;

  /** `y = alpha·x + beta·y` over `y.length` elements (an EMA of a matrix when alpha = 1−beta). */
  axpby(alpha: number, x: F32Buffer, beta: number, y: F32Buffer): void;

  /** `y = beta·y + alpha·x⊙x` over `y.length` elements (an EMA of a matrix's square). */
  emaSquare(beta: number, y: F32Buffer, alpha: number, x: F32Buffer): void;

  /** Adam moments in place: `m = b1·m + (1−b1)·g`, `v = b2·v + (1−b2)·g⊙g`. */
  adamMoments(g: F32Buffer, m: F32Buffer, v: F32Buffer, beta1: number, beta2: number): void;

  /** `out = m ⊘ (sqrt(v)·vScale + eps)`; `vScale` folds a bias correction of v into the denominator. */
  adamDirection(m: F32Buffer, v: F32Buffer, vScale: number, eps: number, out: F32Buffer): void;

  /** Σ xᵢ² accumulated in float64 (the square of the Frobenius norm). */
  sumSquares(x: F32Buffer): number;

  /** `x[i, j] *= s[i]` for an rows×cols matrix x. */
  scaleRows(x: F32Buffer, rows: number, cols: number, s: F32Buffer): void;

  /** `x[i, j] *= s[j]` for an rows×cols matrix x. */
  scaleCols(x: F32Buffer, rows: number, cols: number, s: F32Buffer): void;

  /** True when every element of x is finite. */
  allFinite(x: F32Buffer): boolean;
}
