import type { F32Buffer, F64Buffer, Kernels } from '../kernels/index.ts';
import type { LinalgExports } from './engine.ts';
import { gemmNTScalar } from './gemm-nt.ts';
import { blockReflectorFactor, reflectRows } from './householder.ts';
import type { QrSign, qr } from './qr.ts';

/**
 * Householder QR of a float32 matrix held in an optimizer's arena, with the O(n³) work in the float32 GEMM of
 * its kernels: the same algorithm as {@link qr} (dgeqrf + dorgqr, compact-WY blocks), in the precision of the
 * reference implementations (torch.linalg.qr on float32 tensors, i.e. LAPACK sgeqrf + sorgqr).
 *
 * - A is factored in place, row-major, a panel of NB columns at a time. The panel is copied out transposed
 *   into float64 (its columns become contiguous rows) and factored there with single reflectors in float64
 *   arithmetic (the WASM kernel qrPanelF32 in assembly/qr-panel.ts, or its twin factorPanelTs): about NB·n²
 *   flops in all, against (8/3)n³ for the whole QR.
 * - The reflector vectors are rounded to float32 as soon as they are made and τ is recomputed as 2/‖v‖² in
 *   float64, so that every later use — the rest of the panel, the T factor (from the float64 Gram matrix of
 *   exactly these vectors), the float32 trailing update and the formation of Q — applies the same exactly
 *   orthogonal reflections. What remains is the rounding of the GEMMs and of T to float32.
 * - The trailing columns are updated with the block reflector `I − V·T·Vᵀ` through three `gemmStrided` calls
 *   per block, in place in A. Every block's vectors are kept (Σ NB·(rows − k0) floats of scratch) and Q is
 *   then accumulated backwards from [I; 0] with the same three products per block, in place in Q.
 * - By default only Q is produced: R is then needed for its diagonal's signs alone, so its rows are not updated
 *   once they are final, and A is left holding intermediate values. With `keepR` the panel also writes its
 *   part of R back to A (rounded to float32) before its rows become explicit vectors, and the trailing update
 *   covers the panel's own rows too (kb more rows per block), so that A's leading cols×cols block ends up
 *   holding R.
 *
 * Signs follow {@link QrSign}: 'positive-diagonal' flips the columns of Q whose R_jj is negative (0 counts as
 * positive); 'lapack' keeps Householder's own (LAPACK's dlarfg rules, as in {@link qr}).
 */

/** Columns per block reflector: the depth of the trailing-update GEMMs against the float64 panel work. */
const NB = 32;

export interface QrF32Options {
  /** Sign convention of Q's columns; default 'positive-diagonal'. */
  sign?: QrSign;
  /** Columns per block (tests use small blocks to reach block boundaries on small matrices); default 32. */
  blockSize?: number;
  /**
   * Leave R in `a`: on success its first cols×cols entries (row-major, leading dimension cols) hold R of
   * A = Q·R with Q as returned (under 'positive-diagonal' the rows of R whose column of Q was flipped are
   * negated, so diag(R) ≥ 0 and Q·R = A), zeros below the diagonal. The rest of `a` (rows cols and below)
   * stays unspecified. Costs O(cols²) beyond the QR. Default false.
   */
  keepR?: boolean;
}

/**
 * Q of `A = Q·R` for the rows×cols row-major float32 matrix in `a` (rows ≥ cols): the thin Q (rows×cols,
 * orthonormal columns) is written to `q`. `a` is overwritten with intermediate values, or with R (see
 * {@link QrF32Options.keepR}). Both are buffers of `kernels`' arena and must not overlap. Scratch comes from the
 * arena and is released before returning.
 *
 * Returns false, with `q` (and R) unspecified, if A holds NaN or ±Infinity or the result is not finite. A
 * matrix whose entries are far from 1 in magnitude is first scaled by a power of two (exact, and Q does not
 * depend on it), so float32 neither overflows nor loses precision to underflow in the products; a kept R is
 * scaled back.
 */
export function qrFloat32(
  kernels: Kernels,
  rows: number,
  cols: number,
  a: F32Buffer,
  q: F32Buffer,
  options: QrF32Options = {},
): boolean {
  const sign = options.sign ?? 'positive-diagonal';
  const nb = options.blockSize ?? NB;
  const keepR = options.keepR ?? false;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || cols < 0 || cols > rows) {
    throw new RangeError(`qrFloat32: needs integers rows ≥ cols ≥ 0, got ${rows}×${cols}`);
  }
  if (!Number.isInteger(nb) || nb < 1) throw new RangeError(`qrFloat32: block size ${nb}`);
  const size = rows * cols;
  if (a.length < size || q.length < size) {
    throw new RangeError(`qrFloat32: a (${a.length}) and q (${q.length}) need ${size} elements`);
  }
  if (
    size > 0 &&
    a.arena === q.arena &&
    a.byteOffset < q.byteOffset + 4 * size &&
    q.byteOffset < a.byteOffset + 4 * size
  ) {
    throw new RangeError('qrFloat32: a and q overlap');
  }
  if (size === 0) return true;
  const A = a.slice(0, size);
  const Q = q.slice(0, size);
  const ss = kernels.sumSquares(A);
  if (!Number.isFinite(ss)) return false;
  const scale = normaliseScale(kernels, A, ss, cols);

  const arena = kernels.arena;
  const mark = arena.mark();
  try {
    const blocks = Math.ceil(cols / nb);
    const s: Scratch = {
      kernels,
      wasm: panelExports(kernels),
      rows,
      cols,
      nb,
      keepR,
      a: A,
      panel: arena.f64(nb * rows),
      gram: arena.f64(nb * nb),
      t64: arena.f64(nb * nb),
      vAll: arena.f32(vectorsSize(rows, cols, nb)),
      w: arena.f32(nb * cols),
      w2: arena.f32(nb * cols),
      tAll: arena.f32(blocks * nb * nb),
      tau: arena.f64(nb),
      rdiag: arena.f64(nb),
      dgemmScratch: 0,
    };
    if (s.wasm !== null) s.dgemmScratch = arena.alloc('u8', s.wasm.dgemmScratchBytes()).byteOffset;
    const diag = new Float64Array(cols);
    factor(s, diag);
    formQ(s, Q);
    const positive = sign === 'positive-diagonal';
    if (positive) {
      const flips = arena.f32(cols);
      const f = flips.view();
      for (let j = 0; j < cols; j++) f[j] = diag[j] < 0 ? -1 : 1;
      kernels.scaleCols(Q, rows, cols, flips);
    }
    if (!keepR) return kernels.allFinite(Q);
    // R's row j times its column's flip and the scale taken out (a power of two: exact unless it overflows).
    const R = A.slice(0, cols * cols);
    const rowScale = arena.f32(cols);
    const f = rowScale.view();
    for (let j = 0; j < cols; j++) f[j] = positive && diag[j] < 0 ? -scale : scale;
    kernels.scaleRows(R, cols, cols, rowScale);
    const r = R.view();
    for (let i = 1; i < cols; i++) r.fill(0, i * cols, i * cols + i);
    return kernels.allFinite(Q) && kernels.allFinite(R);
  } finally {
    arena.release(mark);
  }
}

/** The WASM exports the QR calls (byte offsets into the kernels' memory). */
export interface PanelExports extends LinalgExports {
  qrPanelF32(
    a: number,
    lda: number,
    len: number,
    kb: number,
    panel: number,
    tau: number,
    rdiag: number,
    keepR: number,
  ): void;
}

/** The kernels' WASM exports, or null on the TypeScript engine (or a build without the panel kernel). */
function panelExports(kernels: Kernels): PanelExports | null {
  const ex = kernels.wasm?.exports as Partial<PanelExports> | undefined;
  if (ex === undefined) return null;
  for (const name of ['qrPanelF32', 'dgemmNT', 'dgemmScratchBytes'] as const) {
    if (typeof ex[name] !== 'function') return null;
  }
  return ex as PanelExports;
}

/** Below 2⁻⁴⁰ or above 2⁴⁰ in RMS column norm, A is rescaled by a power of two towards 1. */
const SCALE_LIMIT = 40;

/** Rescales A as above; returns the factor taken out (2^e, 1 when A is left as it is). */
function normaliseScale(kernels: Kernels, a: F32Buffer, ss: number, cols: number): number {
  if (ss === 0) return 1;
  const e = Math.round(Math.log2(Math.sqrt(ss / cols)));
  if (Math.abs(e) <= SCALE_LIMIT) return 1;
  // y = 0·x + 2^−e·y over the same buffer: every entry is finite, so 0·x adds nothing.
  kernels.axpby(0, a, 2 ** -e, a);
  return 2 ** e;
}

interface Scratch {
  kernels: Kernels;
  wasm: PanelExports | null;
  rows: number;
  cols: number;
  nb: number;
  /** Whether A's leading block is to end up holding R. */
  keepR: boolean;
  /** A (rows×cols, row-major), factored in place. */
  a: F32Buffer;
  /** The panel transposed (kb rows of len), float64; after factoring, the block's explicit vectors. */
  panel: F64Buffer;
  gram: F64Buffer;
  t64: F64Buffer;
  /**
   * Every block's vectors as explicit float32 rows (kb × len each, one block after the other): the V of the
   * GEMMs, stored transposed.
   */
  vAll: F32Buffer;
  w: F32Buffer;
  w2: F32Buffer;
  /** The T factor of every block (kb×kb each, row-major, at block·nb²). */
  tAll: F32Buffer;
  /** τ and R_pp of the current panel's reflectors (kb each). */
  tau: F64Buffer;
  rdiag: F64Buffer;
  dgemmScratch: number;
}

/** dgeqrf: each block's vectors into `vAll`, T factors into `tAll`, R's diagonal into `diag`. */
function factor(s: Scratch, diag: Float64Array): void {
  const { rows, cols, nb } = s;
  for (let k0 = 0, block = 0, vOff = 0; k0 < cols; k0 += nb, block++) {
    const kb = Math.min(nb, cols - k0);
    const len = rows - k0;
    const vt = s.vAll.slice(vOff, kb * len);
    vOff += kb * len;
    factorPanel(s, k0, kb, diag);
    const t = s.tAll.slice(block * nb * nb, kb * kb);
    blockFactor(s, kb, len, t);
    vt.view().set(s.panel.view().subarray(0, kb * len));
    const rest = cols - k0 - kb;
    if (rest === 0) continue;
    // A2 ← (I − V·T·Vᵀ)ᵀ·A2 on the trailing columns, rows k0 and below. Rows k0 .. k0+kb−1 of A2 then hold
    // rows of R, which nothing reads again: unless R is kept, only the rows below are written.
    const a2 = s.a.slice(k0 * cols + k0 + kb, s.a.length - (k0 * cols + k0 + kb));
    applyBlock(s, vt, len, kb, t, true, a2, rest, s.keepR ? 0 : kb);
  }
}

/**
 * Factors columns k0 .. k0+kb−1 of A (rows k0 and below) in float64: copies them out transposed into
 * `panel`, makes and applies the reflectors, records τ and R_jj (and with `keepR` writes the panel's part of
 * R back to A), and leaves `panel` holding the block's vectors as explicit rows (zeros, 1,
 * float32-representable tail). The WASM twin is qrPanelF32 (assembly/qr-panel.ts).
 */
function factorPanel(s: Scratch, k0: number, kb: number, diag: Float64Array): void {
  const len = s.rows - k0;
  if (s.wasm !== null) {
    const a = s.a.byteOffset + 4 * (k0 * s.cols + k0);
    const { panel, tau, rdiag } = s;
    s.wasm.qrPanelF32(
      a,
      s.cols,
      len,
      kb,
      panel.byteOffset,
      tau.byteOffset,
      rdiag.byteOffset,
      s.keepR ? 1 : 0,
    );
  } else {
    factorPanelTs(
      s.a.view(),
      k0 * s.cols + k0,
      s.cols,
      len,
      kb,
      s.panel.view(),
      s.tau.view(),
      s.rdiag.view(),
      s.keepR,
    );
  }
  diag.set(s.rdiag.view().subarray(0, kb), k0);
}

/**
 * The TypeScript twin of qrPanelF32 (see there): the panel at a[off] (leading dimension lda) into `panel`;
 * with `keepR`, R's part in the panel (on and above its diagonal) back into `a`, rounded to float32.
 */
export function factorPanelTs(
  a: Float32Array,
  off: number,
  lda: number,
  len: number,
  kb: number,
  panel: Float64Array,
  tau: Float64Array,
  rdiag: Float64Array,
  keepR = false,
): void {
  for (let r = 0; r < len; r++) {
    const row = off + r * lda;
    for (let p = 0; p < kb; p++) panel[p * len + r] = a[row + p];
  }
  for (let p = 0; p < kb; p++) {
    const at = p * len + p;
    const n = len - p;
    const t = roundedReflector(panel, at, n);
    tau[p] = t;
    rdiag[p] = panel[at];
    if (t !== 0 && p + 1 < kb) reflectRows(panel, len, p, n, t, p + 1, kb);
  }
  // Row p holds R[0..p, p] before its vector: kept if asked, then the rows become explicit vectors.
  if (keepR) {
    for (let p = 0; p < kb; p++) {
      for (let r = 0; r <= p; r++) a[off + r * lda + p] = panel[p * len + r];
    }
  }
  for (let p = 0; p < kb; p++) {
    panel.fill(0, p * len, p * len + p);
    panel[p * len + p] = 1;
  }
}

/**
 * householder.ts's makeReflector for the float32 QR: the same reflector (LAPACK dlarfg's β and sign rules) with the
 * tail of v rounded to float32 and τ = 2/‖v‖² recomputed for the rounded vector, in two passes. The entries
 * come from float32 data scaled to a moderate range, so the sum of squares can neither overflow nor lose
 * precision to underflow in float64, and dlarfg's rescaling is not needed.
 */
function roundedReflector(x: Float64Array, off: number, len: number): number {
  if (len <= 1) return 0;
  let ss = 0;
  for (let i = off + 1; i < off + len; i++) ss += x[i] * x[i];
  if (ss === 0) return 0;
  const alpha = x[off];
  const norm = Math.sqrt(alpha * alpha + ss);
  // Fortran's SIGN: −0 counts as negative.
  const beta = alpha < 0 || Object.is(alpha, -0) ? norm : -norm;
  const inv = 1 / (alpha - beta);
  let vv = 1;
  for (let i = off + 1; i < off + len; i++) {
    const v = Math.fround(x[i] * inv);
    x[i] = v;
    vv += v * v;
  }
  x[off] = beta;
  return 2 / vv;
}

/** T (kb×kb, float32) of the block whose vectors are the rows of `panel`, from their float64 Gram matrix. */
function blockFactor(s: Scratch, kb: number, len: number, t: F32Buffer): void {
  const g = s.gram.view();
  const v = s.panel.view();
  if (s.wasm !== null) {
    const pv = s.panel.byteOffset;
    s.wasm.dgemmNT(kb, kb, len, 1, pv, len, pv, len, 0, s.gram.byteOffset, kb, 1, s.dgemmScratch);
  } else {
    gemmNTScalar(kb, kb, len, 1, v, 0, len, v, 0, len, 0, g, 0, kb, 'lower');
  }
  const t64 = s.t64.view();
  blockReflectorFactor(kb, g, s.tau.view(), 0, t64);
  t.view().set(t64.subarray(0, kb * kb));
}

/** dorgqr: Q = H_0·H_1⋯H_{cols−1}·[I; 0], block by block from the last, each on Q's rows and columns ≥ k0. */
function formQ(s: Scratch, q: F32Buffer): void {
  const { rows, cols, nb } = s;
  const Q = q.view();
  Q.fill(0);
  for (let j = 0; j < cols; j++) Q[j * cols + j] = 1;
  const blocks = Math.ceil(cols / nb);
  let vEnd = vectorsSize(rows, cols, nb);
  for (let block = blocks - 1; block >= 0; block--) {
    const k0 = block * nb;
    const kb = Math.min(nb, cols - k0);
    const len = rows - k0;
    const n = cols - k0;
    vEnd -= kb * len;
    const vt = s.vAll.slice(vEnd, kb * len);
    const t = s.tAll.slice(block * nb * nb, kb * kb);
    const q2 = q.slice(k0 * cols + k0, q.length - (k0 * cols + k0));
    // Before this block, Q2's first kb columns are still [I; 0] and its first kb rows are zero beyond them (the
    // later blocks touched rows ≥ k0 + kb only), so Vᵀ·Q2 = [V₁ᵀ | Vᵀ[:, kb:]·Q2[kb:, kb:]] with V₁ the top
    // kb×kb of V: the product skips both (dorgqr does the same).
    const w = s.w.view();
    const v = vt.view();
    for (let p = 0; p < kb; p++) for (let c = 0; c < kb; c++) w[p * n + c] = v[p * len + c];
    if (n > kb) {
      const off = kb * cols + kb;
      const vb = vt.slice(kb, kb * len - kb);
      s.kernels.gemmStrided(
        false,
        false,
        kb,
        n - kb,
        len - kb,
        1,
        vb,
        len,
        q2.slice(off, q2.length - off),
        cols,
        0,
        s.w.slice(kb, s.w.length - kb),
        n,
      );
    }
    applyBlock(s, vt, len, kb, t, false, q2, n, 0, true);
  }
}

/**
 * X ← (I − V·op(T)·Vᵀ)·X = X − V·op(T)·(Vᵀ·X) for the len×n block X at `x` (leading dimension `cols`), with
 * op(T) = Tᵀ when `transT`; V is given transposed (`vt`, kb×len). Rows from `skip` on only are written. With
 * `haveW`, the caller has already put Vᵀ·X into `w`.
 * (Splitting X into column chunks, so that a chunk read by the first product is still in cache for the third,
 * measured no faster at n = 1024.)
 */
function applyBlock(
  s: Scratch,
  vt: F32Buffer,
  len: number,
  kb: number,
  t: F32Buffer,
  transT: boolean,
  x: F32Buffer,
  n: number,
  skip: number,
  haveW = false,
): void {
  const { kernels, cols } = s;
  if (!haveW) kernels.gemmStrided(false, false, kb, n, len, 1, vt, len, x, cols, 0, s.w, n);
  kernels.gemmStrided(transT, false, kb, n, kb, 1, t, kb, s.w, n, 0, s.w2, n);
  if (len > skip) {
    const below = x.slice(skip * cols, x.length - skip * cols);
    const v = vt.slice(skip, kb * len - skip);
    kernels.gemmStrided(true, false, len - skip, n, kb, -1, v, len, s.w2, n, 1, below, cols);
  }
}

/** Float32 entries of all blocks' vectors: Σ kb·(rows − k0). */
function vectorsSize(rows: number, cols: number, nb: number): number {
  let total = 0;
  for (let k0 = 0; k0 < cols; k0 += nb) total += Math.min(nb, cols - k0) * (rows - k0);
  return total;
}
