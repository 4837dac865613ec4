/**
 * Householder reflectors `H = I − τ·v·vᵀ` with `v[0] = 1`, in LAPACK's conventions (dlarfg, dlarft), over
 * float64 arrays. Vectors are contiguous runs of an array, which is why the QR and the tridiagonalisation keep
 * the vectors they reflect in rows.
 */

/** Below this the squares of a vector's entries lose precision (or underflow); rescale before reflecting. */
const TINY = 2 ** -500;
/** Above this the sum of squares can overflow. */
const HUGE = 2 ** 500;

/** ‖x[off+1 .. off+len)‖₂ without overflow or harmful underflow. */
function tailNorm(x: Float64Array, off: number, len: number): number {
  let ss = 0;
  for (let i = off + 1; i < off + len; i++) ss += x[i] * x[i];
  if (ss > TINY && ss < HUGE) return Math.sqrt(ss);
  // Rare path: scale by the largest magnitude first.
  let big = 0;
  for (let i = off + 1; i < off + len; i++) big = Math.max(big, Math.abs(x[i]));
  if (big === 0 || !Number.isFinite(big)) return big;
  let s = 0;
  for (let i = off + 1; i < off + len; i++) {
    const t = x[i] / big;
    s += t * t;
  }
  return big * Math.sqrt(s);
}

/** True when the sign bit of x is set (so −0 counts as negative, as Fortran's SIGN does). */
function signBit(x: number): boolean {
  return x < 0 || Object.is(x, -0);
}

/**
 * Builds the reflector that maps `x = x[off .. off+len)` onto `β·e₁` (LAPACK dlarfg), in place:
 * on return `x[off] = β` and `x[off+1 ..]` holds the tail of v (v[0] = 1 is implicit). Returns τ.
 *
 * - If the tail of x is already zero, τ = 0 and H = I: β keeps the value (and sign) of x[0].
 * - Otherwise `β = −sign(x[0])·‖x‖`, with sign taken from the sign bit (x[0] = +0 gives β < 0) and
 *   `τ = (β − x[0])/β ∈ [1, 2]`.
 */
export function makeReflector(x: Float64Array, off: number, len: number): number {
  if (len <= 1) return 0;
  const xnorm = tailNorm(x, off, len);
  if (xnorm === 0) return 0;
  let alpha = x[off];
  // Scale tiny columns up (and huge ones down) by a power of two so that β, 1/(α − β) and τ are accurate;
  // v and τ do not depend on the scale.
  let scale = 1;
  const mag = Math.max(Math.abs(alpha), xnorm);
  if (mag < TINY) scale = 2 ** 600;
  else if (mag > HUGE) scale = 2 ** -600;
  if (scale !== 1) {
    for (let i = off + 1; i < off + len; i++) x[i] *= scale;
    alpha *= scale;
  }
  const norm = Math.hypot(alpha, xnorm * scale);
  const beta = signBit(alpha) ? norm : -norm;
  const tau = (beta - alpha) / beta;
  const inv = 1 / (alpha - beta);
  for (let i = off + 1; i < off + len; i++) x[i] *= inv;
  x[off] = beta / scale;
  return tau;
}

/**
 * Triangular factor of a block reflector (LAPACK dlarft, forward, stored by rows): for kb reflectors whose
 * full vectors are the rows of `vt` (kb × len, explicit zeros before and a 1 at position p in row p),
 * `H_0·H_1⋯H_{kb−1} = I − V·T·Vᵀ` with V = vtᵀ and T upper triangular (kb × kb, row-major, written into t).
 */
export function blockReflectorFactor(
  kb: number,
  len: number,
  vt: Float64Array,
  tau: Float64Array,
  tauOff: number,
  t: Float64Array,
): void {
  t.fill(0, 0, kb * kb);
  const g = new Float64Array(kb);
  for (let p = 0; p < kb; p++) {
    const tp = tau[tauOff + p];
    t[p * kb + p] = tp;
    if (p === 0 || tp === 0) continue;
    // g_q = v_qᵀ v_p for q < p; v_p is zero before position p.
    const vp = p * len;
    for (let q = 0; q < p; q++) {
      const vq = q * len;
      let s = 0;
      for (let r = p; r < len; r++) s += vt[vq + r] * vt[vp + r];
      g[q] = s;
    }
    // T[0:p, p] = −τ_p · T[0:p, 0:p] · g
    for (let q = 0; q < p; q++) {
      let s = 0;
      for (let r = q; r < p; r++) s += t[q * kb + r] * g[r];
      t[q * kb + p] = -tp * s;
    }
  }
}
