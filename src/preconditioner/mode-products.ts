/**
 * Mode products of a row-major order-k tensor with per-mode square matrices, built on the GEMM/SYRK kernels.
 *
 * Mode i of a tensor with dims (d_1..d_k) is viewed as `(outer, dim, inner)` with outer = Π_{j<i} d_j and
 * inner = Π_{j>i} d_j (a `ModeShape`). The last mode (inner = 1) is one GEMM on the outer×dim matrix; the
 * first mode (outer = 1) is one GEMM on the dim×inner matrix; a middle mode is `outer` GEMMs of dim×inner
 * slices.
 */
import type { F32Buffer, Kernels } from '../kernels/index.ts';

export interface ModeShape {
  outer: number;
  dim: number;
  inner: number;
}

/** The `(outer, dim, inner)` view of mode `mode` of a tensor with dims `dims`. */
export function modeShape(dims: readonly number[], mode: number): ModeShape {
  let outer = 1;
  let inner = 1;
  for (let j = 0; j < mode; j++) outer *= dims[j];
  for (let j = mode + 1; j < dims.length; j++) inner *= dims[j];
  return { outer, dim: dims[mode], inner };
}

/**
 * `out = x ×_mode op(Q)` for a d×d matrix Q (`out` must not overlap `x`).
 * - `trans = false`: `Y[a, p, b] = Σ_j Q[j, p]·X[a, j, b]`, i.e. Qᵀ acts on the mode (into an eigenbasis
 *   whose columns are Q's columns; for a symmetric Q simply Q).
 * - `trans = true`: `Y[a, j, b] = Σ_p Q[j, p]·X[a, p, b]`, i.e. Q acts on the mode (back to parameter space).
 */
export function modeProduct(
  kernels: Kernels,
  x: F32Buffer,
  shape: ModeShape,
  q: F32Buffer,
  trans: boolean,
  out: F32Buffer,
): void {
  const { outer, dim, inner } = shape;
  if (inner === 1) {
    // (outer × d)·Q or (outer × d)·Qᵀ
    kernels.gemm(false, trans, outer, dim, dim, 1, x, q, 0, out);
    return;
  }
  const size = dim * inner;
  for (let s = 0; s < outer; s++) {
    const xs = outer === 1 ? x : x.slice(s * size, size);
    const os = outer === 1 ? out : out.slice(s * size, size);
    // Qᵀ·X_s or Q·X_s with X_s the d×inner slice
    kernels.gemm(!trans, false, dim, inner, dim, 1, q, xs, 0, os);
  }
}

/**
 * Applies `modeProduct` for every mode that has a basis (in mode order): into the eigenbases (`inward`, Qᵀ
 * on each mode) or back out (Q on each mode). The first product reads `src`; the results alternate between
 * `x` and `y` (both the tensor's length), so `src` is preserved unless it is `x` or `y` itself. Returns
 * whichever buffer holds the result: `src` when no mode has a basis.
 */
export function project(
  kernels: Kernels,
  src: F32Buffer,
  x: F32Buffer,
  y: F32Buffer,
  dims: readonly number[],
  bases: readonly (F32Buffer | null)[],
  inward: boolean,
): F32Buffer {
  let cur = src;
  for (let mode = 0; mode < dims.length; mode++) {
    const q = bases[mode];
    if (q === null) continue;
    const target = cur === x ? y : x;
    modeProduct(kernels, cur, modeShape(dims, mode), q, !inward, target);
    cur = target;
  }
  return cur;
}

/**
 * The mode's Gram matrix: `C = alpha·X_(i)·X_(i)ᵀ + beta·C` (dim×dim), where X_(i) is the mode-i unfolding
 * (the contraction of x with itself over every other axis). With beta = 0, C is not read.
 */
export function modeStatistics(
  kernels: Kernels,
  x: F32Buffer,
  shape: ModeShape,
  alpha: number,
  beta: number,
  c: F32Buffer,
): void {
  const { outer, dim, inner } = shape;
  if (inner === 1) {
    kernels.syrk(true, dim, outer, alpha, x, beta, c);
    return;
  }
  const size = dim * inner;
  for (let s = 0; s < outer; s++) {
    const xs = outer === 1 ? x : x.slice(s * size, size);
    kernels.syrk(false, dim, inner, alpha, xs, s === 0 ? beta : 1, c);
  }
}

/** `X[a, j, b] *= s[j]` along one mode. */
export function modeScale(kernels: Kernels, x: F32Buffer, shape: ModeShape, s: F32Buffer): void {
  const { outer, dim, inner } = shape;
  if (inner === 1) {
    kernels.scaleCols(x, outer, dim, s);
    return;
  }
  const size = dim * inner;
  for (let o = 0; o < outer; o++) kernels.scaleRows(outer === 1 ? x : x.slice(o * size, size), dim, inner, s);
}

/** `dst[a, j, b] = src[a, perm[j], b]` along one mode (src and dst must not overlap). */
export function modePermute(src: Float32Array, dst: Float32Array, shape: ModeShape, perm: Int32Array): void {
  const { outer, dim, inner } = shape;
  for (let o = 0; o < outer; o++) {
    const base = o * dim * inner;
    for (let j = 0; j < dim; j++) {
      const to = base + j * inner;
      const from = base + perm[j] * inner;
      for (let b = 0; b < inner; b++) dst[to + b] = src[from + b];
    }
  }
}

/** `out[j] = Σ_{a,b} X[a, j, b]²` along one mode, accumulated in float64. */
export function modeSumSquares(x: Float32Array, shape: ModeShape, out: Float64Array): void {
  const { outer, dim, inner } = shape;
  out.fill(0, 0, dim);
  for (let o = 0; o < outer; o++) {
    const base = o * dim * inner;
    for (let j = 0; j < dim; j++) {
      let acc = 0;
      const row = base + j * inner;
      for (let b = 0; b < inner; b++) acc += x[row + b] * x[row + b];
      out[j] += acc;
    }
  }
}
