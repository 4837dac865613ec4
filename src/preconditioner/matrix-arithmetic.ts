import type { F32Buffer, Kernels } from '../kernels/index.ts';

/** A real-valued array of either precision. */
export type FloatArray = Float32Array | Float64Array;

/**
 * The dense arithmetic a Shampoo step is written against, over opaque buffers of type M. The library runs it
 * in float32 on the kernels (`KernelArithmetic`, M = an arena buffer, WASM or TypeScript engine); the tests
 * also run the same step code in float64 on plain arrays, to replay the reference trajectories in float64
 * (test/helpers/float64-arithmetic.ts). Matrices are row-major and contiguous, as for the kernels: an r×c
 * matrix is the leading r·c elements of its buffer, and elementwise operations run over a buffer's whole
 * length.
 */
export interface MatrixArithmetic<M> {
  /** The element type: float32 buffers round every stored value; float64 buffers keep it. */
  readonly precision: 'float32' | 'float64';
  /** A scalar rounded to the element type (`Math.fround` in float32, the value itself in float64). */
  round(x: number): number;
  /** A zero-filled buffer of `length` elements (scratch: allocate in constructors, not per step). */
  alloc(length: number): M;
  /** The elements of a buffer (valid until the next allocation). */
  view(m: M): FloatArray;
  /** `length` elements starting at `start`, sharing the memory of `m`. */
  slice(m: M, start: number, length: number): M;
  /** Number of elements of a buffer. */
  size(m: M): number;
  /** `C = alpha·op(A)·op(B) + beta·C` (see `Kernels.gemm`). */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: M,
    b: M,
    beta: number,
    c: M,
  ): void;
  /** `C = alpha·A·Aᵀ + beta·C` (A n×k) or `alpha·Aᵀ·A + beta·C` (A k×n, `trans`), full symmetric C. */
  syrk(trans: boolean, n: number, k: number, alpha: number, a: M, beta: number, c: M): void;
  /** `y = alpha·x + beta·y`. */
  axpby(alpha: number, x: M, beta: number, y: M): void;
  /** `x[i, j] *= s[i]`. */
  scaleRows(x: M, rows: number, cols: number, s: M): void;
  /** Adam moments in place: `m = β1·m + (1−β1)·g`, `v = β2·v + (1−β2)·g²`. */
  adamMoments(g: M, m: M, v: M, beta1: number, beta2: number): void;
  /** `out = m ⊘ (sqrt(v)·vScale + eps)`. */
  adamDirection(m: M, v: M, vScale: number, eps: number, out: M): void;
  /** True when every element is finite. */
  allFinite(x: M): boolean;
  /** Σ xᵢ², accumulated in float64. */
  sumSquares(x: M): number;
}

/** The float32 arithmetic of the library: the kernels (WASM or TypeScript) on arena buffers. */
export class KernelArithmetic implements MatrixArithmetic<F32Buffer> {
  readonly precision = 'float32' as const;
  readonly kernels: Kernels;

  constructor(kernels: Kernels) {
    this.kernels = kernels;
  }

  round(x: number): number {
    return Math.fround(x);
  }

  alloc(length: number): F32Buffer {
    return this.kernels.arena.f32(length);
  }

  view(m: F32Buffer): Float32Array {
    return m.view();
  }

  slice(m: F32Buffer, start: number, length: number): F32Buffer {
    return m.slice(start, length);
  }

  size(m: F32Buffer): number {
    return m.length;
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
    this.kernels.gemm(transA, transB, m, n, k, alpha, a, b, beta, c);
  }

  syrk(trans: boolean, n: number, k: number, alpha: number, a: F32Buffer, beta: number, c: F32Buffer): void {
    this.kernels.syrk(trans, n, k, alpha, a, beta, c);
  }

  axpby(alpha: number, x: F32Buffer, beta: number, y: F32Buffer): void {
    this.kernels.axpby(alpha, x, beta, y);
  }

  scaleRows(x: F32Buffer, rows: number, cols: number, s: F32Buffer): void {
    this.kernels.scaleRows(x, rows, cols, s);
  }

  adamMoments(g: F32Buffer, m: F32Buffer, v: F32Buffer, beta1: number, beta2: number): void {
    this.kernels.adamMoments(g, m, v, beta1, beta2);
  }

  adamDirection(m: F32Buffer, v: F32Buffer, vScale: number, eps: number, out: F32Buffer): void {
    this.kernels.adamDirection(m, v, vScale, eps, out);
  }

  allFinite(x: F32Buffer): boolean {
    return this.kernels.allFinite(x);
  }

  sumSquares(x: F32Buffer): number {
    return this.kernels.sumSquares(x);
  }
}
