import { ConvergenceError } from '../errors.ts';

const EPS = 2 ** -52;
const MAX_ITER = 400;

/**
 * Eigen-decomposition of the rank-one modification `Diag(d) + ρ·z·zᵀ` (ρ > 0, d strictly increasing, no z_j = 0;
 * what remains after deflation in divide and conquer).
 *
 * Eigenvalues: the k roots of the secular equation `g(λ) = 1 + ρ·Σ_j z_j²/(d_j − λ) = 0`, one in each interval
 * (d_i, d_{i+1}) and the last in (d_{k−1}, d_{k−1} + ρ·‖z‖²]. Each root is sought as an offset τ from the nearer
 * pole, so that every difference d_j − λ_i is available to full relative accuracy. The iteration fits the two
 * poles around the root with the function's value and slope and solves that model's quadratic (LAPACK dlaed4's
 * scheme: Gragg's fixed-weight fit, switching to the 'middle way' fit when progress stalls); it is safeguarded
 * by a bracket and falls back to bisection. Three to five iterations per root are typical.
 *
 * Eigenvectors (Gu and Eisenstat): ẑ is recomputed from the computed roots by Löwner's formula, so that the
 * computed λ are the exact eigenvalues of `Diag(d) + ρ·ẑ·ẑᵀ`, and eigenvector i is `ẑ_j/(d_j − λ_i)`,
 * normalised. This is what keeps the vectors orthogonal to working precision even for close roots.
 *
 * @param lambda out: the k eigenvalues, ascending.
 * @param u out (k×k row-major): row i is the unit eigenvector of lambda[i], indexed like d.
 * @throws ConvergenceError if a root is not found in 400 iterations (not expected to happen).
 */
export function solveRankOneUpdate(
  k: number,
  d: Float64Array,
  z: Float64Array,
  rho: number,
  lambda: Float64Array,
  u: Float64Array,
): void {
  if (k === 1) {
    lambda[0] = d[0] + rho * z[0] * z[0];
    u[0] = 1;
    return;
  }
  const z2 = new Float64Array(k);
  let zz = 0;
  for (let j = 0; j < k; j++) {
    z2[j] = z[j] * z[j];
    zz += z2[j];
  }
  for (let i = 0; i < k; i++) findRoot(i, k, d, z2, zz, rho, lambda, u);
  // Löwner: ẑ_j² = −(d_j − λ_j)·Π_{i≠j} (d_j − λ_i)/(d_j − d_i) / ρ, accumulated row by row of u (u[i·k + j]
  // holds d_j − λ_i here).
  const w = new Float64Array(k);
  for (let j = 0; j < k; j++) w[j] = u[j * k + j];
  for (let i = 0; i < k; i++) {
    const r = i * k;
    const di = d[i];
    for (let j = 0; j < k; j++) if (j !== i) w[j] *= u[r + j] / (d[j] - di);
  }
  for (let j = 0; j < k; j++) {
    const v = Math.sqrt(Math.max(0, -w[j] / rho));
    w[j] = z[j] < 0 ? -v : v;
  }
  for (let i = 0; i < k; i++) {
    const r = i * k;
    let ss = 0;
    for (let j = 0; j < k; j++) {
      const v = w[j] / u[r + j];
      u[r + j] = v;
      ss += v * v;
    }
    const inv = 1 / Math.sqrt(ss);
    for (let j = 0; j < k; j++) u[r + j] *= inv;
  }
}

/**
 * Root i of the secular equation. Writes lambda[i] and u[i·k + j] = d_j − λ_i (computed as δ_j − τ with δ taken
 * from the nearer pole).
 */
function findRoot(
  i: number,
  k: number,
  d: Float64Array,
  z2: Float64Array,
  zz: number,
  rho: number,
  lambda: Float64Array,
  u: Float64Array,
): void {
  const row = i * k;
  let origin: number;
  let lo: number;
  let hi: number;
  // The model's two poles: everything up to pa is folded into the left pole, from pb on into the right one.
  let pa: number;
  let pb: number;
  if (i < k - 1) {
    const half = (d[i + 1] - d[i]) / 2;
    // Which half of (d_i, d_{i+1}) holds the root: g is increasing there, so look at its sign at the midpoint.
    let g = 1;
    const di = d[i];
    for (let j = 0; j < k; j++) g += (rho * z2[j]) / (d[j] - di - half);
    if (g >= 0) {
      origin = i;
      lo = 0;
      hi = half;
    } else {
      origin = i + 1;
      lo = -half;
      hi = 0;
    }
    pa = i;
    pb = i + 1;
  } else {
    origin = k - 1;
    lo = 0;
    hi = rho * zz;
    pa = k - 2;
    pb = k - 1;
  }
  const dOrigin = d[origin];
  for (let j = 0; j < k; j++) u[row + j] = d[j] - dOrigin;
  // Start at the interval's midpoint (where g's sign was just taken), or half-way to the last root's bound.
  let tau = origin === i && i < k - 1 ? hi : origin === i + 1 ? lo : hi / 2;
  let prevG = Number.NaN;
  // Two fits of g by two poles, as in LAPACK dlaed4: 'fixed weight' keeps the true weight ρ·z_o² of the pole
  // the root is measured from (exact when the root hugs that pole); the 'middle way' fits both weights to the
  // slopes of the two sides. Switch when a step did not cut |g| tenfold without crossing the root.
  let fixedWeight = true;
  let converged = false;
  for (let iter = 0; iter < MAX_ITER; iter++) {
    let psi = 0;
    let dpsi = 0;
    let phi = 0;
    let dphi = 0;
    for (let j = 0; j <= pa; j++) {
      const t = 1 / (u[row + j] - tau);
      const term = z2[j] * t;
      psi += term;
      dpsi += term * t;
    }
    for (let j = pb; j < k; j++) {
      const t = 1 / (u[row + j] - tau);
      const term = z2[j] * t;
      phi += term;
      dphi += term * t;
    }
    psi *= rho;
    dpsi *= rho;
    phi *= rho;
    dphi *= rho;
    const g = 1 + psi + phi;
    // Rounding error of g: the terms themselves, plus the error of τ as seen through g's slope.
    const absTerms = Math.abs(psi) + Math.abs(phi);
    const tol = 8 * EPS * (1 + absTerms) + EPS * Math.abs(tau) * (dpsi + dphi);
    if (Math.abs(g) <= tol) {
      converged = true;
      break;
    }
    if (g < 0) lo = tau;
    else hi = tau;
    if (hi - lo <= 2 * EPS * Math.max(Math.abs(lo), Math.abs(hi))) {
      converged = true;
      break;
    }
    if (iter > 0 && g * prevG > 0 && Math.abs(g) > 0.1 * Math.abs(prevG)) fixedWeight = !fixedWeight;
    prevG = g;
    const da = u[row + pa] - tau;
    const db = u[row + pb] - tau;
    let next = step(fixedWeight, g, da, db, dpsi, dphi, rho * z2[origin === pa ? pa : pb], origin === pa);
    if (!(tau + next > lo && tau + next < hi)) {
      next = step(!fixedWeight, g, da, db, dpsi, dphi, rho * z2[origin === pa ? pa : pb], origin === pa);
    }
    let t = tau + next;
    if (!(t > lo && t < hi)) t = bisection(lo, hi);
    tau = t;
  }
  if (!converged) {
    throw new ConvergenceError(
      `secular equation: root ${i} of ${k} did not converge in ${MAX_ITER} iterations`,
    );
  }
  lambda[i] = dOrigin + tau;
  for (let j = 0; j < k; j++) u[row + j] -= tau;
}

/**
 * The step η of a two-pole model `c + qa/(da − η) + qb/(db − η)` of g that matches g and g' at the current point
 * (da, db: distances from the current point to the poles). Fixed weight: the origin pole's weight is its true
 * `wOrigin`; otherwise both weights come from the slopes of the two sides. NaN if the model has no usable root.
 */
function step(
  fixedWeight: boolean,
  g: number,
  da: number,
  db: number,
  dpsi: number,
  dphi: number,
  wOrigin: number,
  originIsA: boolean,
): number {
  let qa: number;
  let qb: number;
  if (!fixedWeight) {
    qa = dpsi * da * da;
    qb = dphi * db * db;
  } else if (originIsA) {
    qa = wOrigin;
    qb = (dpsi + dphi - qa / (da * da)) * db * db;
  } else {
    qb = wOrigin;
    qa = (dpsi + dphi - qb / (db * db)) * da * da;
  }
  const c = g - qa / da - qb / db;
  // c·η² − a·η + b = 0, with b = da·db·g (so η → 0 as g → 0).
  const a = c * (da + db) + qa + qb;
  const b = da * db * g;
  if (c === 0) return b / a;
  const sq = Math.sqrt(Math.max(0, a * a - 4 * b * c));
  const t = a >= 0 ? a + sq : a - sq;
  const e2 = t !== 0 ? (2 * b) / t : Number.NaN;
  const e1 = t / (2 * c);
  // The model has one root between its poles (for the last root of the equation: to the right of both);
  // prefer the small one, which is the root once g is small.
  return Math.abs(e2) <= Math.abs(e1) || Number.isNaN(e1) ? e2 : e1;
}

/** Midpoint of the bracket, or its geometric mean when one end is a pole (0) and the other far away. */
function bisection(lo: number, hi: number): number {
  if (lo === 0 && hi > 0)
    return hi * 2 ** -8 > Number.MIN_VALUE ? Math.max(hi / 2 ** 8, Number.MIN_VALUE) : hi / 2;
  if (hi === 0 && lo < 0) return lo / 2 ** 8;
  return (lo + hi) / 2;
}
