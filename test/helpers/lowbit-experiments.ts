/**
 * The numerical experiments of ALGORITHMS.md §8 (items 3–5) on the storage codecs, in float64 dense math so
 * that the only low-precision step is the codec under test. Shared by test/lowbit-numerics.test.ts (bounds)
 * and bench/lowbit-numerics.ts (the full table, including d = 512).
 */
import { bjorck, eigh, qr } from '../../src/linalg/index.ts';
import {
  dequantize4,
  dequantize4DiagReal,
  quant4Layout,
  quantize4,
  quantize4DiagReal,
  roundToBf16,
} from '../../src/storage/index.ts';

/** Deterministic standard normal stream (LCG + Box–Muller). */
export function gaussianStream(seed: number): () => number {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
}

export function transpose(a: Float64Array, n: number): Float64Array {
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) t[j * n + i] = a[i * n + j];
  return t;
}

/** C = A·B for n×n row-major float64 matrices. */
export function matmul(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ci = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[ci + k];
      if (aik === 0) continue;
      const bk = k * n;
      for (let j = 0; j < n; j++) c[ci + j] += aik * b[bk + j];
    }
  }
  return c;
}

export function frobenius(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

export function relativeError(approx: Float64Array, exact: Float64Array): number {
  let s = 0;
  for (let i = 0; i < exact.length; i++) s += (approx[i] - exact[i]) ** 2;
  return Math.sqrt(s) / frobenius(exact);
}

/** `Vt·Vtᵀ − I` (rows of Vt are the basis vectors). */
function gramMinusIdentity(vt: Float64Array, n: number): Float64Array {
  const g = matmul(vt, transpose(vt, n), n);
  for (let i = 0; i < n; i++) g[i * n + i] -= 1;
  return g;
}

/** ‖VᵀV − I‖_F/√n: the orthogonality error of §8.3. */
export function orthogonalityError(vt: Float64Array, n: number): number {
  return frobenius(gramMinusIdentity(vt, n)) / Math.sqrt(n);
}

export function maxAbsOrthogonalityError(vt: Float64Array, n: number): number {
  let m = 0;
  for (const v of gramMinusIdentity(vt, n)) m = Math.max(m, Math.abs(v));
  return m;
}

/** `Vtᵀ·Diag(f)·Vt` = V·Diag(f)·Vᵀ with the basis vectors as the rows of Vt. */
export function fromEigen(vt: Float64Array, f: ArrayLike<number>, n: number): Float64Array {
  const w = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) w[i * n + j] = vt[i * n + j] * f[i];
  return matmul(transpose(vt, n), w, n);
}

/** 4-bit linear-2 block-64 round trip of a float64 matrix (the input is rounded to float32, as stored). */
export function roundTrip4(m: Float64Array, n: number): Float64Array {
  const l = quant4Layout(n, n);
  const codes = new Uint8Array(l.codeBytes);
  const scales = new Float32Array(l.scaleCount);
  quantize4(m, n, n, codes, scales);
  const out = new Float64Array(n * n);
  dequantize4(codes, scales, n, n, out);
  return out;
}

/** DiagReal round trip: float32 diagonal, 4-bit off-diagonal ("naive 4-bit" storage of a factor). */
export function roundTripDiagReal4(m: Float64Array, n: number): Float64Array {
  const l = quant4Layout(n, n);
  const codes = new Uint8Array(l.codeBytes);
  const scales = new Float32Array(l.scaleCount);
  const diag = new Float32Array(n);
  quantize4DiagReal(m, n, codes, scales, diag);
  const out = new Float64Array(n * n);
  dequantize4DiagReal(codes, scales, diag, n, out);
  return out;
}

/** Haar-random orthogonal n×n matrix (QR of a Gaussian matrix, diag(R) ≥ 0). */
export function randomOrthogonal(n: number, seed: number): Float64Array {
  const g = gaussianStream(seed);
  const x = new Float64Array(n * n);
  for (let i = 0; i < x.length; i++) x[i] = g();
  return Float64Array.from(qr(x, n, n, 'positive-diagonal'));
}

/** Geometric spectrum from `hi` down to `lo` over n values (descending). */
export function geometricSpectrum(n: number, hi: number, lo: number): Float64Array {
  const s = new Float64Array(n);
  for (let i = 0; i < n; i++) s[i] = hi * (lo / hi) ** (i / (n - 1));
  return s;
}

export interface BjorckRow {
  t: number;
  orthogonality: number;
  rootError: number;
}

/**
 * §8.3 / §8.4, eigenvector storage: quantize Vᵀ (rows = eigenvectors of A) to 4 bits, apply t Björck steps
 * (src/linalg's `bjorck`), and measure the orthogonality error and the relative error of
 * `A^{-1/4} ≈ Ṽ·Diag(λ^{-1/4})·Ṽᵀ` against the exact root, for each t in `ts` (ascending).
 */
export function eigenvectorQuantization(
  vt: Float64Array,
  values: ArrayLike<number>,
  n: number,
  ts: readonly number[],
): BjorckRow[] {
  const rootValues = Array.from(values, (v) => v ** -0.25);
  const exact = fromEigen(vt, rootValues, n);
  let w = roundTrip4(vt, n);
  let done = 0;
  const rows: BjorckRow[] = [];
  for (const t of ts) {
    if (t > done) w = bjorck(w, n, n, t - done); // ALGORITHMS.md P5, on the rows of Vᵀ
    done = t;
    rows.push({
      t,
      orthogonality: orthogonalityError(w, n),
      rootError: relativeError(fromEigen(w, rootValues, n), exact),
    });
  }
  return rows;
}

/** §8.3: the eigenbasis of a Wishart matrix `X·Xᵀ/N` with X d×N Gaussian (N = 4d matches the table). */
export function wishartEigen(
  d: number,
  samples: number,
  seed: number,
): { vt: Float64Array; values: Float64Array } {
  const g = gaussianStream(seed);
  const x = new Float64Array(d * samples);
  for (let i = 0; i < x.length; i++) x[i] = g();
  const a = new Float64Array(d * d);
  for (let i = 0; i < d; i++) {
    for (let j = 0; j <= i; j++) {
      let acc = 0;
      for (let k = 0; k < samples; k++) acc += x[i * samples + k] * x[j * samples + k];
      a[i * d + j] = acc / samples;
      a[j * d + i] = acc / samples;
    }
  }
  const { values, vectors } = eigh(a, d);
  return { vt: transpose(vectors, d), values };
}

/**
 * §8.4, naive storage: A itself with a float32 diagonal and 4-bit off-diagonal, then `A^{-1/4}` of the
 * dequantized (symmetrized) matrix by eigh with the reference's relative ridge ρ = ε·λ_max (ε = 1e-6);
 * eigenvalues the quantization pushed below zero are clamped to 0 before the ridge.
 */
export function naiveRootError(a: Float64Array, exactRoot: Float64Array, n: number, eps = 1e-6): number {
  const stored = roundTripDiagReal4(a, n);
  const { values, vectors } = eigh(stored, n);
  const ridge = eps * values[n - 1];
  const f = Array.from(values, (v) => (Math.max(v, 0) + ridge) ** -0.25);
  return relativeError(fromEigen(transpose(vectors, n), f, n), exactRoot);
}

export interface IllConditionedResult {
  eigenvector: BjorckRow[];
  naive: number;
}

/** §8.4: n×n, eigenvalues geometric from 1 to 1e-6, Haar eigenbasis. */
export function illConditioned(n: number, seed: number, ts: readonly number[]): IllConditionedResult {
  const q = randomOrthogonal(n, seed);
  const values = geometricSpectrum(n, 1, 1e-6);
  const vt = transpose(q, n);
  const a = fromEigen(vt, values, n);
  const exactRoot = fromEigen(
    vt,
    Array.from(values, (v) => v ** -0.25),
    n,
  );
  return { eigenvector: eigenvectorQuantization(vt, values, n, ts), naive: naiveRootError(a, exactRoot, n) };
}

/** Elementwise round to bf16 (through float32), as a float64 array. */
export function toBf16(m: Float64Array): Float64Array {
  return m.map((v) => roundToBf16(v));
}

export interface Bf16Result {
  /** The k smallest true eigenvalues, ascending. */
  smallest: number[];
  /** Relative errors of the k smallest eigenvalues of the dense factor stored in bf16. */
  denseErrors: number[];
  /** Relative errors of the k smallest eigenvalues of S̃ = Diag(σ) + bf16(offdiag S), S = Q̃ᵀ L Q̃. */
  rotatedErrors: number[];
  /** Relative errors of the diagonal σ (the eigenvalue estimates) for the k smallest eigenvalues. */
  rotatedDiagErrors: number[];
  /** Largest relative error of σ over all n eigenvalues. */
  rotatedDiagWorst: number;
  /** max |Q̃ᵀQ̃ − I| for the bf16-stored eigenbasis Q̃. */
  bf16Orthogonality: number;
}

/**
 * §8.5: a dense n×n factor L = Q·Diag(λ)·Qᵀ with λ geometric from 1 to 1e-5.
 * - Dense bf16 storage: eigenvalues of bf16(L).
 * - Rotated (§6.2): Q̃ = bf16(Q); S = Q̃ᵀ·L·Q̃ (float64, rounded once); σ = float32(diag S) and O = bf16(offdiag S);
 *   eigenvalues of S̃ = Diag(σ) + O, and σ itself against the eigenvalue it tracks.
 */
export function bf16Factor(n: number, seed: number, k: number): Bf16Result {
  const q = randomOrthogonal(n, seed);
  const lambda = geometricSpectrum(n, 1, 1e-5);
  const qt = transpose(q, n);
  const l = fromEigen(qt, lambda, n);
  const ascending = Array.from(lambda).sort((x, y) => x - y);
  const smallest = ascending.slice(0, k);

  const dense = eigh(toBf16(l), n).values;
  const denseErrors = smallest.map((v, i) => Math.abs(dense[i] - v) / v);

  const qb = toBf16(q);
  const s = matmul(matmul(transpose(qb, n), l, n), qb, n);
  const stored = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++)
      stored[i * n + j] = i === j ? Math.fround(s[i * n + j]) : roundToBf16(s[i * n + j]);
  }
  const rotated = eigh(stored, n).values;
  const rotatedErrors = smallest.map((v, i) => Math.abs(rotated[i] - v) / v);
  // Column j of Q is the eigenvector of λ_j (descending), so σ_j estimates λ_j.
  const diagErr = Array.from(lambda, (v, j) => Math.abs(stored[j * n + j] - v) / v);
  const rotatedDiagErrors = diagErr.slice(n - k).reverse();

  return {
    smallest,
    denseErrors,
    rotatedErrors,
    rotatedDiagErrors,
    rotatedDiagWorst: Math.max(...diagErr),
    bf16Orthogonality: maxAbsOrthogonalityError(transpose(qb, n), n),
  };
}

/** §8.5 / P6: `v ← βv + (1−β)·target` from v = 1, in float32 storage and in bf16 storage (float32 arithmetic). */
export function emaInStorage(beta: number, target: number, steps: number): { fp32: number; bf16: number } {
  const f = Math.fround;
  const b = f(beta);
  const w = f(1 - beta);
  let v32 = f(1);
  let vb = f(1);
  for (let t = 0; t < steps; t++) {
    v32 = f(f(b * v32) + f(w * target));
    vb = roundToBf16(f(f(b * vb) + f(w * target)));
  }
  return { fp32: v32, bf16: vb };
}
