import { NonFiniteError } from '../errors.ts';
import { type Workspace, withWorkspace } from './engine.ts';
import { transposeInto } from './gemm-nt.ts';
import { applyBlockReflector, makeReflector, reflectRows } from './householder.ts';

/**
 * Column-sign convention of Q.
 * - 'positive-diagonal': columns flipped so that diag(R) ≥ 0, with 0 counted as positive (reproducible across
 *   libraries).
 * - 'lapack': Householder's own signs as LAPACK's dgeqrf/dorgqr (and so torch.linalg.qr) return them, no
 *   normalisation: `R_kk = −sign(a_kk)·‖x‖` where x is the k-th column below the diagonal after the previous
 *   reflections; when x below the diagonal is already zero the reflector is the identity and `R_kk = a_kk`
 *   keeps its sign (this includes the last column of a square matrix). The 4-bit quantizer's asymmetric codebook
 *   makes this sign observable.
 */
export type QrSign = 'positive-diagonal' | 'lapack';

export interface QrOptions {
  /** Where to write Q (rows×cols row-major); allocated when omitted. */
  q?: Float64Array;
  /** If given, R (cols×cols row-major, upper triangular, zeros below) is written here with the same signs. */
  r?: Float64Array;
}

/** Columns per block reflector. */
const NB = 24;

/**
 * Householder QR of a row-major rows×cols matrix (rows ≥ cols): `A = Q·R` with Q rows×cols having orthonormal
 * columns (the thin Q) and R cols×cols upper triangular. Returns Q (row-major). The input is not modified.
 *
 * Blocked (compact WY, 32 columns per block): the panel is factored with single reflectors and the rest of the
 * matrix, and Q, are updated with matrix products. The work is done on Aᵀ so that every column is a contiguous
 * row. Cost ≈ 2·rows·cols² − (2/3)·cols³ for R plus the same for Q.
 *
 * @throws NonFiniteError if A holds NaN or ±Infinity.
 */
export function qr(
  a: ArrayLike<number>,
  rows: number,
  cols: number,
  sign: QrSign = 'positive-diagonal',
  options: QrOptions = {},
): Float64Array {
  if (cols > rows) throw new RangeError(`qr: needs rows ≥ cols, got ${rows}×${cols}`);
  if (a.length < rows * cols) throw new RangeError(`qr: input has ${a.length} entries, needs ${rows * cols}`);
  for (let i = 0; i < rows * cols; i++) {
    if (!Number.isFinite(a[i])) throw new NonFiniteError(`qr: non-finite entry at index ${i}`);
  }
  const q = qOutput(options, rows, cols);
  withWorkspace(rows * cols + qrScratch(rows, cols), (ws) => {
    const at = ws.f64(cols * rows);
    transposeInto(rows, cols, a, 0, cols, at, 0, rows);
    qrInto(at, rows, cols, sign, q, options.r, ws);
  });
  return q;
}

/**
 * QR of A given as `at = Aᵀ` (cols×rows row-major, so row j is column j of A; not modified), for callers that
 * have Aᵀ at hand. Entries must be finite. Same result as {@link qr}.
 */
export function qrTransposed(
  at: ArrayLike<number>,
  rows: number,
  cols: number,
  sign: QrSign,
  options: QrOptions = {},
): Float64Array {
  if (cols > rows) throw new RangeError(`qr: needs rows ≥ cols, got ${rows}×${cols}`);
  const q = qOutput(options, rows, cols);
  withWorkspace(rows * cols + qrScratch(rows, cols), (ws) => {
    const work = ws.f64(cols * rows);
    for (let i = 0; i < rows * cols; i++) work[i] = at[i];
    qrInto(work, rows, cols, sign, q, options.r, ws);
  });
  return q;
}

function qOutput(options: QrOptions, rows: number, cols: number): Float64Array {
  const q = options.q ?? new Float64Array(rows * cols);
  if (q.length < rows * cols)
    throw new RangeError(`qr: output q has ${q.length} entries, needs ${rows * cols}`);
  if (options.r && options.r.length < cols * cols) {
    throw new RangeError(`qr: output r has ${options.r.length} entries, needs ${cols * cols}`);
  }
  return q;
}

/** Float64 values of scratch {@link qrInto} takes from its workspace. */
export function qrScratch(rows: number, cols: number): number {
  return rows * cols + 2 * NB * rows + 2 * NB * cols + 3 * NB * NB + 64;
}

/**
 * The QR on a workspace: `at` (Aᵀ, cols×rows, overwritten) is factored, Q written to q (rows×cols) and, if
 * given, R to r (cols×cols), with the sign convention applied to both.
 */
export function qrInto(
  at: Float64Array,
  rows: number,
  cols: number,
  sign: QrSign,
  q: Float64Array,
  r: Float64Array | undefined,
  ws: Workspace,
): void {
  const mark = ws.mark();
  const tau = new Float64Array(cols);
  factor(at, rows, cols, tau, ws);
  const qt = ws.f64(cols * rows);
  formQt(at, rows, cols, tau, qt, ws);
  const flip = new Uint8Array(cols);
  if (sign === 'positive-diagonal') for (let j = 0; j < cols; j++) flip[j] = at[j * rows + j] < 0 ? 1 : 0;
  transposeInto(cols, rows, qt, 0, rows, q, 0, cols);
  if (sign === 'positive-diagonal') {
    for (let i = 0; i < rows; i++) {
      const row = i * cols;
      for (let j = 0; j < cols; j++) if (flip[j]) q[row + j] = -q[row + j];
    }
  }
  if (r) {
    for (let i = 0; i < cols; i++) {
      const s = flip[i] ? -1 : 1;
      for (let j = 0; j < cols; j++) r[i * cols + j] = j < i ? 0 : s * at[j * rows + i];
    }
  }
  ws.release(mark);
}

/** Reflector vectors of panel [k0, k0+kb) as explicit rows (kb × len, len = rows − k0). */
function panelVectors(at: Float64Array, rows: number, k0: number, kb: number, vt: Float64Array): void {
  const len = rows - k0;
  vt.fill(0, 0, kb * len);
  for (let p = 0; p < kb; p++) {
    const src = (k0 + p) * rows + k0;
    const dst = p * len;
    vt[dst + p] = 1;
    for (let r = p + 1; r < len; r++) vt[dst + r] = at[src + r];
  }
}

/** dgeqrf on Aᵀ: R in the upper part (at[j][i], i ≤ j), reflector tails after the diagonal of each row. */
function factor(at: Float64Array, rows: number, cols: number, tau: Float64Array, ws: Workspace): void {
  const mark = ws.mark();
  const vt = ws.f64(NB * rows);
  const v = ws.f64(rows * NB);
  for (let k0 = 0; k0 < cols; k0 += NB) {
    const kb = Math.min(NB, cols - k0);
    // Panel: single reflectors applied within the panel.
    for (let k = k0; k < k0 + kb; k++) {
      tau[k] = makeReflector(at, k * rows + k, rows - k);
      reflectRows(at, rows, k, rows - k, tau[k], k + 1, k0 + kb);
    }
    const rest = cols - k0 - kb;
    if (rest === 0) continue;
    // Trailing columns: A2 ← Pᵀ·A2 for the panel's product P, on A2ᵀ.
    const len = rows - k0;
    panelVectors(at, rows, k0, kb, vt);
    transposeInto(kb, len, vt, 0, len, v, 0, kb);
    applyBlockReflector(rest, len, kb, vt, v, tau, k0, at, (k0 + kb) * rows + k0, rows, false, ws);
  }
  ws.release(mark);
}

/** dorgqr on Qᵀ: qt (cols×rows) ← rows of the thin Q's transpose. */
function formQt(
  at: Float64Array,
  rows: number,
  cols: number,
  tau: Float64Array,
  qt: Float64Array,
  ws: Workspace,
): void {
  const mark = ws.mark();
  qt.fill(0);
  for (let j = 0; j < cols; j++) qt[j * rows + j] = 1;
  const vt = ws.f64(NB * rows);
  const v = ws.f64(rows * NB);
  const last = Math.floor((cols - 1) / NB) * NB;
  for (let k0 = last; k0 >= 0; k0 -= NB) {
    const kb = Math.min(NB, cols - k0);
    const len = rows - k0;
    panelVectors(at, rows, k0, kb, vt);
    transposeInto(kb, len, vt, 0, len, v, 0, kb);
    // Q ← P·Q on rows and columns ≥ k0 (the rest is still the identity), on Qᵀ.
    applyBlockReflector(cols - k0, len, kb, vt, v, tau, k0, qt, k0 * rows + k0, rows, true, ws);
  }
  ws.release(mark);
}
