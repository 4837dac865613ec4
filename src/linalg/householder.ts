import { type Workspace, wasmFor } from './engine.ts';
import { gemmNT } from './gemm-nt.ts';

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
 * Applies the reflector stored in row k of `a` (leading dimension ld; v[0] = 1 implicit, v[1..len) =
 * a[k][k+1 ..]) to rows j0..j1−1 over columns k..k+len−1: `x ← x − τ·(vᵀx)·v`. Runs the WASM twin
 * (dreflectRows) when a lives in the workspace memory.
 */
export function reflectRows(
  a: Float64Array,
  ld: number,
  k: number,
  len: number,
  tau: number,
  j0: number,
  j1: number,
): void {
  if (tau === 0 || j1 <= j0) return;
  const wasm = wasmFor(a, a, a);
  if (wasm !== null) {
    wasm.exports.dreflectRows(a.byteOffset, ld, k, len, tau, j0, j1);
    return;
  }
  const vk = k * ld + k;
  for (let j = j0; j < j1; j++) {
    const x = j * ld + k;
    let dot = a[x];
    for (let r = 1; r < len; r++) dot += a[vk + r] * a[x + r];
    dot *= tau;
    a[x] -= dot;
    for (let r = 1; r < len; r++) a[x + r] -= dot * a[vk + r];
  }
}

/**
 * Applies a block of kb reflectors `P = H_0·H_1⋯H_{kb−1} = I − V·T·Vᵀ` to a matrix Y given by its transpose
 * X = Yᵀ (m rows of `len` entries at `x[xOff + i·ldx]`): `transposeT` true computes Y ← P·Y, i.e.
 * `X ← X − (X·V)·Tᵀ·Vᵀ`; false computes Y ← Pᵀ·Y, i.e. `X ← X − (X·V)·T·Vᵀ`.
 *
 * The reflectors' full vectors are the rows of `vt` (kb × len) and `v` is its transpose (len × kb). Everything
 * but the O(kb³) recurrence for T is a matrix product.
 */
export function applyBlockReflector(
  m: number,
  len: number,
  kb: number,
  vt: Float64Array,
  v: Float64Array,
  tau: Float64Array,
  tauOff: number,
  x: Float64Array,
  xOff: number,
  ldx: number,
  transposeT: boolean,
  ws: Workspace,
): void {
  if (m === 0 || kb === 0) return;
  const mark = ws.mark();
  const g = ws.f64(kb * kb);
  const t = ws.f64(kb * kb);
  const w = ws.f64(m * kb);
  const w2 = ws.f64(m * kb);
  // Gram matrix of the vectors (lower triangle), then T column by column.
  gemmNT(kb, kb, len, 1, vt, 0, len, vt, 0, len, 0, g, 0, kb, 'lower');
  blockReflectorFactor(kb, g, tau, tauOff, t);
  // W = X·V (m × kb)
  gemmNT(m, kb, len, 1, x, xOff, ldx, vt, 0, len, 0, w, 0, kb);
  // W2 = W·Tᵀ (B = T) or W·T (B = Tᵀ, into g, which is free now)
  if (transposeT) {
    gemmNT(m, kb, kb, 1, w, 0, kb, t, 0, kb, 0, w2, 0, kb);
  } else {
    for (let p = 0; p < kb; p++) for (let q = 0; q < kb; q++) g[p * kb + q] = t[q * kb + p];
    gemmNT(m, kb, kb, 1, w, 0, kb, g, 0, kb, 0, w2, 0, kb);
  }
  // X −= W2·Vᵀ
  gemmNT(m, len, kb, -1, w2, 0, kb, v, 0, kb, 1, x, xOff, ldx);
  ws.release(mark);
}

/**
 * Triangular factor of a block reflector (LAPACK dlarft, forward, columnwise): from the Gram matrix of the
 * reflectors' vectors (`g`, kb×kb, lower triangle read: g[p][q] = v_pᵀv_q for q ≤ p) and their τ,
 * `H_0·H_1⋯H_{kb−1} = I − V·T·Vᵀ` with T upper triangular (kb × kb, row-major, written into t).
 */
export function blockReflectorFactor(
  kb: number,
  g: Float64Array,
  tau: Float64Array,
  tauOff: number,
  t: Float64Array,
): void {
  t.fill(0, 0, kb * kb);
  for (let p = 0; p < kb; p++) {
    const tp = tau[tauOff + p];
    t[p * kb + p] = tp;
    if (p === 0 || tp === 0) continue;
    // T[0:p, p] = −τ_p · T[0:p, 0:p] · (V[:, 0:p]ᵀ v_p)
    for (let q = 0; q < p; q++) {
      let s = 0;
      for (let r = q; r < p; r++) s += t[q * kb + r] * g[p * kb + r];
      t[q * kb + p] = -tp * s;
    }
  }
}
