import { availableEngines, type EngineName, enableRelaxedSimd } from '../../src/kernels/index.ts';

/**
 * Every engine the linear algebra can run on in this process (relaxed SIMD is enabled for the test process,
 * which only affects this process). The suites run once per engine.
 */
export function linalgEngines(): EngineName[] {
  enableRelaxedSimd();
  return availableEngines();
}

/**
 * Independent float64 oracles for the linear-algebra tests: a seeded generator, random orthogonal matrices built
 * from products of random reflections (so they do not depend on the QR under test), and naive triple-loop
 * products. All matrices are row-major Float64Arrays.
 */

/** Deterministic uniform [0, 1) generator (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Standard normal samples (Box–Muller). */
export function gaussian(rand: () => number, count: number): Float64Array {
  const out = new Float64Array(count);
  for (let i = 0; i < count; i += 2) {
    const u = Math.max(rand(), 1e-300);
    const v = rand();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < count) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

/** A random n×n orthogonal matrix: the product of n reflections I − 2uuᵀ/uᵀu with Gaussian u. */
export function randomOrthogonal(n: number, rand: () => number): Float64Array {
  const q = identity(n);
  for (let r = 0; r < n; r++) {
    const u = gaussian(rand, n);
    let uu = 0;
    for (let i = 0; i < n; i++) uu += u[i] * u[i];
    if (uu === 0) continue;
    // q ← q·(I − 2uuᵀ/uᵀu): each row x of q becomes x − (2 x·u/uᵀu) uᵀ.
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let j = 0; j < n; j++) dot += q[i * n + j] * u[j];
      const f = (2 * dot) / uu;
      for (let j = 0; j < n; j++) q[i * n + j] -= f * u[j];
    }
  }
  return q;
}

export function identity(n: number): Float64Array {
  const m = new Float64Array(n * n);
  for (let i = 0; i < n; i++) m[i * n + i] = 1;
  return m;
}

/** C = A·B with A m×k, B k×n. */
export function matmul(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  m: number,
  k: number,
  n: number,
): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p];
      if (x === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] += x * b[p * n + j];
    }
  }
  return c;
}

export function transpose(a: ArrayLike<number>, rows: number, cols: number): Float64Array {
  const t = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) t[j * rows + i] = a[i * cols + j];
  return t;
}

/** Q·Diag(λ)·Qᵀ for square Q (n×n) and λ (n), made exactly symmetric. */
export function fromSpectrum(q: Float64Array, lambda: ArrayLike<number>, n: number): Float64Array {
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i * n + k] * lambda[k] * q[j * n + k];
      a[i * n + j] = s;
      a[j * n + i] = s;
    }
  }
  return a;
}

export function frobenius(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** ‖QᵀQ − I‖_F for Q rows×cols. */
export function orthogonalityError(q: ArrayLike<number>, rows: number, cols: number): number {
  let s = 0;
  for (let i = 0; i < cols; i++) {
    for (let j = 0; j < cols; j++) {
      let d = 0;
      for (let r = 0; r < rows; r++) d += q[r * cols + i] * q[r * cols + j];
      if (i === j) d -= 1;
      s += d * d;
    }
  }
  return Math.sqrt(s);
}

/** ‖A·V − V·Diag(λ)‖_F / max(‖A‖_F, tiny). */
export function eigenResidual(
  a: Float64Array,
  values: ArrayLike<number>,
  vectors: Float64Array,
  n: number,
): number {
  const av = matmul(a, vectors, n, n, n);
  let s = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const r = av[i * n + j] - vectors[i * n + j] * values[j];
      s += r * r;
    }
  }
  return Math.sqrt(s) / Math.max(frobenius(a), Number.MIN_VALUE);
}
