/**
 * Mode products of a row-major order-k tensor with per-mode square matrices, built on the GEMM/SYRK kernels.
 *
 * Mode i of a tensor with dims (d_1..d_k) is viewed as `(a, d_i, b)` with a = Π_{j<i} d_j and b = Π_{j>i} d_j.
 * The last mode (b = 1) is one GEMM on the a×d matrix; the first mode (a = 1) is one GEMM on the d×b
 * matrix; a middle mode is a GEMMs of d×b slices.
 */
import type { F32Buffer, Kernels } from '../kernels/index.ts';

export interface ModeView {
  outer: number;
  dim: number;
  inner: number;
}

export function modeView(dims: readonly number[], mode: number): ModeView {
  let outer = 1;
  let inner = 1;
  for (let j = 0; j < mode; j++) outer *= dims[j];
  for (let j = mode + 1; j < dims.length; j++) inner *= dims[j];
  return { outer, dim: dims[mode], inner };
}

/**
 * `out = x ×_mode op(Q)` for a d×d matrix Q.
 * - `inward` (into the eigenbasis): `Y[a, p, b] = Σ_j Q[j, p]·X[a, j, b]`, i.e. Qᵀ acts on the mode.
 * - outward (back to parameter space): `Y[a, j, b] = Σ_p Q[j, p]·X[a, p, b]`, i.e. Q acts on the mode.
 * `out` must not overlap `x`.
 */
export function modeProduct(
  kernels: Kernels,
  x: F32Buffer,
  out: F32Buffer,
  dims: readonly number[],
  mode: number,
  q: F32Buffer,
  inward: boolean,
): void {
  const { outer, dim, inner } = modeView(dims, mode);
  if (inner === 1) {
    // (outer × d)·Q or (outer × d)·Qᵀ
    kernels.gemm(false, !inward, outer, dim, dim, 1, x, q, 0, out);
    return;
  }
  const size = dim * inner;
  for (let s = 0; s < outer; s++) {
    const xs = outer === 1 ? x : x.slice(s * size, size);
    const os = outer === 1 ? out : out.slice(s * size, size);
    // Qᵀ·X_s or Q·X_s with X_s the d×inner slice
    kernels.gemm(inward, false, dim, inner, dim, 1, q, xs, 0, os);
  }
}

/**
 * Applies `modeProduct` for every mode that has a basis (in mode order). The first product reads `src`; the
 * results alternate between `x` and `y` (both the tensor's length), so `src` is preserved unless it is `x` or
 * `y` itself. Returns whichever buffer holds the result: `src` when no mode has a basis.
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
    modeProduct(kernels, cur, target, dims, mode, q, inward);
    cur = target;
  }
  return cur;
}

/**
 * The mode-i Gram matrix of x: `C = alpha·X_(i)·X_(i)ᵀ + beta·C` (d_i×d_i), where X_(i) is the mode-i
 * unfolding (the contraction of x with itself over every other axis). With beta = 0, C is not read.
 */
export function modeGram(
  kernels: Kernels,
  x: F32Buffer,
  dims: readonly number[],
  mode: number,
  alpha: number,
  beta: number,
  c: F32Buffer,
): void {
  const { outer, dim, inner } = modeView(dims, mode);
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
export function scaleMode(
  kernels: Kernels,
  x: F32Buffer,
  dims: readonly number[],
  mode: number,
  s: F32Buffer,
): void {
  const { outer, dim, inner } = modeView(dims, mode);
  if (inner === 1) {
    kernels.scaleCols(x, outer, dim, s);
    return;
  }
  const size = dim * inner;
  for (let o = 0; o < outer; o++) kernels.scaleRows(outer === 1 ? x : x.slice(o * size, size), dim, inner, s);
}

/** `dst[a, j, b] = src[a, perm[j], b]` along one mode (src and dst must not overlap). */
export function permuteMode(
  src: Float32Array,
  dst: Float32Array,
  dims: readonly number[],
  mode: number,
  perm: Int32Array,
): void {
  const { outer, dim, inner } = modeView(dims, mode);
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
export function modeSumSquares(
  x: Float32Array,
  dims: readonly number[],
  mode: number,
  out: Float64Array,
): void {
  const { outer, dim, inner } = modeView(dims, mode);
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
