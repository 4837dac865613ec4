import type { FloatArray, MatrixArithmetic } from './matrix-arithmetic.ts';
import type { RefreshStatus } from './refresh-status.ts';

/**
 * `(A + ρI)^(−1/p)` by the coupled Newton (Schur–Newton) iteration of Guo & Higham, as 4-bit Shampoo's
 * `inv_root_mode=1` computes it (`ComputePower`, from google-research scalable_shampoo):
 * - ρ = ridgeEpsilon·λ_max with λ_max from at most 10 power iterations (tolerance 1e-6);
 * - z = (1 + p)/(2·‖A + ρI‖_F), X = z^(1/p)·I, M = z·(A + ρI);
 * - while max|M − I| > tolerance and fewer than `iterations` rounds: T = (1 − α)I + αM with α = −1/p,
 *   X ← X·T, M ← T^p·M; a round whose error grows by more than 1.2× is discarded and ends the loop.
 * A 1×1 matrix gives 1, as in the reference. The products run through the arithmetic (the float32 kernels in
 * the library, as the reference's do). The reference starts the power iteration from a random vector; here it
 * starts from a fixed pseudo-random vector, so the result is deterministic.
 */
export interface CoupledNewtonScratch<M> {
  x: M;
  m: M;
  t: M;
  u: M;
  v: M;
}

export function coupledNewtonInverseRoot<M>(
  ar: MatrixArithmetic<M>,
  a: M,
  n: number,
  p: number,
  ridgeEpsilon: number,
  scratch: CoupledNewtonScratch<M>,
  out: M,
  iterations = 10,
  tolerance = 1e-6,
): RefreshStatus {
  const nn = n * n;
  const o = ar.view(out);
  if (n === 1) {
    o[0] = 1;
    return 'ok';
  }
  const A = ar.view(a);
  const lambdaMax = powerIteration(A, n);
  if (!Number.isFinite(lambdaMax)) return 'non-finite-input';
  const ridge = ridgeEpsilon * lambdaMax;
  const M = ar.view(scratch.m);
  let norm = 0;
  for (let i = 0; i < nn; i++) {
    M[i] = A[i] + (i % (n + 1) === 0 ? ridge : 0);
    norm += M[i] * M[i];
  }
  const z = (1 + p) / (2 * Math.sqrt(norm));
  for (let i = 0; i < nn; i++) M[i] *= z;
  const X = ar.view(scratch.x);
  X.fill(0, 0, nn);
  const x0 = z ** (1 / p);
  for (let i = 0; i < n; i++) X[i * n + i] = x0;
  const alpha = -1 / p;
  let error = maxDeviationFromIdentity(M, n);
  const T = ar.view(scratch.t);
  for (let count = 0; error > tolerance && count < iterations; count++) {
    for (let i = 0; i < nn; i++) T[i] = alpha * M[i] + (i % (n + 1) === 0 ? 1 - alpha : 0);
    // Candidate root X·T into `out`; M ← T^p·M through u/v.
    ar.gemm(false, false, n, n, n, 1, scratch.x, scratch.t, 0, out);
    const tp = matrixPower(ar, scratch.t, n, p, scratch.u, scratch.v);
    const other = tp === scratch.u ? scratch.v : scratch.u;
    ar.gemm(false, false, n, n, n, 1, tp, scratch.m, 0, other);
    const newError = maxDeviationFromIdentity(ar.view(other), n);
    if (newError > error * 1.2) break;
    M.set(ar.view(other).subarray(0, nn));
    X.set(o.subarray(0, nn));
    error = newError;
  }
  o.set(X.subarray(0, nn));
  return ar.allFinite(ar.slice(out, 0, nn)) ? 'ok' : 'non-finite-output';
}

/**
 * `T^p` for an integer p ≥ 1 into u or v (returned), as the reference's `MatPower`: repeated squaring when p
 * is a power of two, else one multiplication per power. T is left unchanged.
 */
function matrixPower<M>(ar: MatrixArithmetic<M>, t: M, n: number, p: number, u: M, v: M): M {
  if (!Number.isInteger(p) || p < 1)
    throw new RangeError(`matrix power: p must be a positive integer, got ${p}`);
  ar.view(u).set(ar.view(t).subarray(0, n * n));
  let cur = u;
  const squaring = (p & (p - 1)) === 0;
  for (let done = 1; done < p; done = squaring ? done * 2 : done + 1) {
    const next = cur === u ? v : u;
    ar.gemm(false, false, n, n, n, 1, cur, squaring ? cur : t, 0, next);
    cur = next;
  }
  return cur;
}

function maxDeviationFromIdentity(m: FloatArray, n: number): number {
  let e = 0;
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) e = Math.max(e, Math.abs(m[i * n + j] - (i === j ? 1 : 0)));
  return e;
}

/** The reference's `PowerIter`: at most 10 rounds, stopping when the Rayleigh quotient moves by ≤ 1e-6. */
function powerIteration(a: FloatArray, n: number): number {
  let seed = 0x9e3779b9;
  let v = Float64Array.from({ length: n }, () => {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    return (seed / 4294967296) * 2 - 1;
  });
  let estimate = 0;
  let error = 1;
  for (let it = 0; it < 10 && error > 1e-6; it++) {
    let norm = 0;
    for (let i = 0; i < n; i++) norm += v[i] * v[i];
    norm = Math.sqrt(norm);
    const av = new Float64Array(n);
    let s = 0;
    for (let i = 0; i < n; i++) {
      let acc = 0;
      for (let j = 0; j < n; j++) acc += a[i * n + j] * v[j];
      av[i] = acc / norm;
      s += (v[i] / norm) * av[i];
    }
    error = Math.abs(s - estimate);
    estimate = s;
    v = av;
  }
  return estimate;
}
