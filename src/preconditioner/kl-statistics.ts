/**
 * The KL methods' per-side eigenvalue estimates and the KL-Shampoo scaling, with the reference's float32
 * rounding (yorkerlin/KL-Methods, `KLOpt`).
 *
 * Each side k stores `s_k = d_k^{-1/2}`, the inverse square roots of its eigenvalue estimates. Updating with
 * a new statistic x (the Rayleigh quotients of this step's coupled outer product in the current basis):
 *   D = 1/s²  (NaN/±Inf → 0);   D ← lerp(D, x, 1−β);   s = 1/sqrt(D)  (NaN/±Inf → 0);   s ← min(s, c)
 * with the clamp c = max(10, min(d, maxClampValue)) when clamping is on. A zero estimate therefore gives a
 * zero step in that direction rather than an infinite one.
 */

const f = Math.fround;

/** `torch.lerp(a, b, w)` on float32 values (its two-branch formula, each operation rounded to float32). */
export function lerpF32(a: number, b: number, w: number): number {
  const diff = f(b - a);
  return Math.abs(w) < 0.5 ? f(a + f(w * diff)) : f(b - f(diff * f(1 - w)));
}

function finiteOrZero(x: number): number {
  return Number.isFinite(x) ? x : 0;
}

/** The clamp on s for a side of length `dim`, or Infinity without clamping. */
export function klClamp(dim: number, usingClamping: boolean, maxClampValue: number): number {
  return usingClamping ? Math.max(10, Math.min(dim, maxClampValue)) : Number.POSITIVE_INFINITY;
}

/**
 * In-place update of one side's stored inverse-sqrt estimates `s` (length d) from the statistic `x` (float64
 * accumulations, rounded to float32 as the reference's float32 means are) plus an optional damping term
 * added to every entry.
 */
export function updateInverseSqrtEstimates(
  s: Float32Array,
  x: Float64Array,
  beta: number,
  damping: number,
  clamp: number,
): void {
  const w = 1 - beta;
  for (let j = 0; j < s.length; j++) {
    const d = finiteOrZero(f(1 / f(s[j] * s[j])));
    let stat = f(x[j]);
    if (damping > 0) stat = f(stat + f(damping));
    const next = lerpF32(d, stat, w);
    const inv = finiteOrZero(f(1 / f(Math.sqrt(next))));
    s[j] = Math.min(inv, clamp);
  }
}

/** `mean(s²)` as a float32 value: the trace term of the reference's damping. */
export function meanSquare(s: Float32Array): number {
  let acc = 0;
  for (let j = 0; j < s.length; j++) acc += f(s[j] * s[j]);
  return f(acc / s.length);
}

/**
 * `x ← x ⊙ S` with `S = Π_k s_k / (1 + ε·Π_k s_k)` over the modes of a row-major tensor with dims
 * `dims` (the KL-Shampoo preconditioner `1/(sqrt(Π d_k) + ε)` in the eigenbasis). Computed in float64 so
 * that a huge Π s (clamping off) cannot turn into Inf/Inf = NaN.
 */
export function scaleByInverseSqrtProduct(
  x: Float32Array,
  dims: readonly number[],
  s: readonly Float32Array[],
  eps: number,
): void {
  const k = dims.length;
  if (k === 2) {
    const [m, n] = dims;
    const sl = s[0];
    const sr = s[1];
    for (let i = 0; i < m; i++) {
      const a = sl[i];
      const row = i * n;
      for (let j = 0; j < n; j++) {
        const p = a * sr[j];
        x[row + j] *= p / (1 + eps * p);
      }
    }
    return;
  }
  // General order: walk the multi-index with an odometer, keeping the running products per prefix.
  const idx = new Int32Array(k);
  const prefix = new Float64Array(k + 1);
  prefix[0] = 1;
  for (let m = 0; m < k; m++) prefix[m + 1] = prefix[m] * s[m][0];
  const total = x.length;
  for (let e = 0; e < total; e++) {
    const p = prefix[k];
    x[e] *= p / (1 + eps * p);
    let m = k - 1;
    while (m >= 0) {
      idx[m] += 1;
      if (idx[m] < dims[m]) break;
      idx[m] = 0;
      m -= 1;
    }
    if (m < 0) break;
    for (let r = m; r < k; r++) prefix[r + 1] = prefix[r] * s[r][idx[r]];
  }
}
