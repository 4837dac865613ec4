import { HeapWorkspace, type Workspace } from './engine.ts';
import { gemmNT } from './gemm-nt.ts';
import { solveRankOneUpdate } from './secular.ts';
import { tridiagonalQl } from './tridiagonal-ql.ts';

const EPS = 2 ** -52;
/** Blocks of at most this order are solved directly by QL. */
const LEAF = 32;

/**
 * Eigen-decomposition of a symmetric tridiagonal matrix by Cuppen's divide and conquer, with the deflation of
 * Dongarra–Sorensen and the eigenvector formula of Gu–Eisenstat (the scheme of LAPACK's dstedc).
 *
 * The matrix is split in half by subtracting a rank-one term at the coupling entry, both halves are solved
 * recursively, and the halves' eigenpairs are merged by solving `Diag(d) + ρ·z·zᵀ`. Most of the work is the
 * product of the halves' eigenvectors with the rank-one problem's eigenvectors; columns known to be zero in the
 * top or bottom half are left out of that product, and deflated eigenpairs are not multiplied at all.
 *
 * @param d in: diagonal (n); out: eigenvalues, ascending.
 * @param e in: off-diagonal (n−1 entries; e[i] couples i and i+1); destroyed.
 * @param z out: n×n row-major, column j is the unit eigenvector of d[j].
 * @param ws scratch for the merges (3n² values, allocated and released here).
 */
export function tridiagonalEigen(
  d: Float64Array,
  e: Float64Array,
  n: number,
  z: Float64Array,
  ws: Workspace = new HeapWorkspace(),
): void {
  z.fill(0, 0, n * n);
  if (n === 0) return;
  if (n <= LEAF) {
    solveLeaf(d, e, n, z, 0, n);
    return;
  }
  const mark = ws.mark();
  const work = new MergeWork(n, ws);
  divide(d, e, n, z, 0, n, work);
  ws.release(mark);
}

/** Scratch (float64 values) {@link tridiagonalEigen} takes from its workspace. */
export function tridiagonalEigenScratch(n: number): number {
  return n > LEAF ? 3 * n * n : 0;
}

/** Scratch for the merges, sized for the top-level merge and reused by every smaller one. */
class MergeWork {
  readonly zv: Float64Array;
  readonly dl: Float64Array;
  readonly zl: Float64Array;
  readonly lambda: Float64Array;
  readonly colOf: Int32Array;
  readonly type: Uint8Array;
  readonly order: Int32Array;
  readonly defVal: Float64Array;
  readonly defCol: Int32Array;
  readonly perm: Int32Array;
  readonly outVal: Float64Array;
  readonly outSrc: Int32Array;
  readonly tmp: Float64Array;
  /** Gathered eigenvector columns: non-deflated (m×k) followed by deflated (m×(m−k)). */
  readonly q: Float64Array;
  /** Rank-one eigenvectors (k×k), rows. */
  readonly u: Float64Array;
  /** Product (m×k). */
  readonly c: Float64Array;
  constructor(n: number, ws: Workspace) {
    this.zv = new Float64Array(n);
    this.dl = new Float64Array(n);
    this.zl = new Float64Array(n);
    this.lambda = new Float64Array(n);
    this.colOf = new Int32Array(n);
    this.type = new Uint8Array(n);
    this.order = new Int32Array(n);
    this.defVal = new Float64Array(n);
    this.defCol = new Int32Array(n);
    this.perm = new Int32Array(n);
    this.outVal = new Float64Array(n);
    this.outSrc = new Int32Array(n);
    this.tmp = new Float64Array(n);
    this.q = ws.f64(n * n);
    this.u = ws.f64(n * n);
    this.c = ws.f64(n * n);
  }
}

/**
 * Solves the block [s, s+m) directly: QL with the rotations accumulated on the eigenvectors as rows of a
 * private m×m array (contiguous rows), sorted, then stored transposed as the columns of the z block.
 */
function solveLeaf(
  d: Float64Array,
  e: Float64Array,
  m: number,
  z: Float64Array,
  s: number,
  ldz: number,
): void {
  const zt = new Float64Array(m * m);
  for (let i = 0; i < m; i++) zt[i * m + i] = 1;
  // QL uses e[m−1] as scratch: give it a private copy so the parent's coupling entry survives.
  const dl = d.subarray(s, s + m);
  const el = new Float64Array(m);
  for (let i = 0; i < m - 1; i++) el[i] = e[s + i];
  tridiagonalQl(dl, el, m, zt, 0, m, true);
  // Ascending order: sort indices, then write eigenvector order[c] into column c.
  const order = Array.from({ length: m }, (_, i) => i).sort((x, y) => dl[x] - dl[y]);
  const vals = order.map((i) => dl[i]);
  const zOff = s * ldz + s;
  for (let c = 0; c < m; c++) {
    dl[c] = vals[c];
    const src = order[c] * m;
    for (let r = 0; r < m; r++) z[zOff + r * ldz + c] = zt[src + r];
  }
}

function divide(
  d: Float64Array,
  e: Float64Array,
  ldz: number,
  z: Float64Array,
  s: number,
  m: number,
  work: MergeWork,
): void {
  if (m <= LEAF) {
    solveLeaf(d, e, m, z, s, ldz);
    return;
  }
  const n1 = m >> 1;
  const beta = e[s + n1 - 1];
  const ab = Math.abs(beta);
  d[s + n1 - 1] -= ab;
  d[s + n1] -= ab;
  divide(d, e, ldz, z, s, n1, work);
  divide(d, e, ldz, z, s + n1, m - n1, work);
  merge(d, beta, ldz, z, s, n1, m - n1, work);
}

/**
 * Merges two solved halves [s, s+n1) and [s+n1, s+m) of a block whose coupling entry is beta:
 * T = Q·(D + ρ·z·zᵀ)·Qᵀ with Q = blockdiag(Q1, Q2), ρ = 2|β| and z = (last row of Q1, ±first row of Q2)/√2.
 */
function merge(
  d: Float64Array,
  beta: number,
  ldz: number,
  Z: Float64Array,
  s: number,
  n1: number,
  n2: number,
  w: MergeWork,
): void {
  const m = n1 + n2;
  const base = s * ldz + s;
  const sgn = beta < 0 ? -1 : 1;
  const rho = 2 * Math.abs(beta);
  const zv = w.zv;
  const inv = Math.SQRT1_2;
  for (let j = 0; j < n1; j++) zv[j] = Z[base + (n1 - 1) * ldz + j] * inv;
  for (let j = n1; j < m; j++) zv[j] = sgn * Z[base + n1 * ldz + j] * inv;

  // Merge the two ascending runs of d into one order.
  const order = w.order;
  {
    let a = 0;
    let b = n1;
    for (let t = 0; t < m; t++) {
      if (b >= m || (a < n1 && d[s + a] <= d[s + b])) order[t] = a++;
      else order[t] = b++;
    }
  }
  let dmax = 0;
  let zmax = 0;
  for (let j = 0; j < m; j++) {
    dmax = Math.max(dmax, Math.abs(d[s + j]));
    zmax = Math.max(zmax, Math.abs(zv[j]));
  }
  const tol = 8 * EPS * Math.max(dmax, zmax);
  const type = w.type;
  for (let j = 0; j < m; j++) type[j] = j < n1 ? 1 : 3;

  // Deflation: drop pairs whose z entry is negligible, and rotate away one of two nearly equal d's.
  const dl = w.dl;
  const zl = w.zl;
  const colOf = w.colOf;
  const defVal = w.defVal;
  const defCol = w.defCol;
  let k = 0;
  let nd = 0;
  if (rho * zmax <= tol) {
    for (let t = 0; t < m; t++) {
      defVal[nd] = d[s + order[t]];
      defCol[nd++] = order[t];
    }
  } else {
    let prev = -1;
    for (let t = 0; t < m; t++) {
      const j = order[t];
      if (rho * Math.abs(zv[j]) <= tol) {
        defVal[nd] = d[s + j];
        defCol[nd++] = j;
        continue;
      }
      if (prev < 0) {
        prev = j;
        continue;
      }
      const zp = zv[prev];
      const zj = zv[j];
      const r = Math.hypot(zp, zj);
      const c = zj / r;
      const sn = -zp / r;
      const gap = d[s + j] - d[s + prev];
      if (Math.abs(gap * c * sn) <= tol) {
        // Rotate columns prev and j so that z[prev] becomes 0; prev is then an eigenpair on its own.
        zv[j] = r;
        zv[prev] = 0;
        if (type[prev] !== type[j]) {
          type[prev] = 2;
          type[j] = 2;
        }
        let idx = base;
        for (let row = 0; row < m; row++, idx += ldz) {
          const x = Z[idx + prev];
          const y = Z[idx + j];
          Z[idx + prev] = c * x + sn * y;
          Z[idx + j] = c * y - sn * x;
        }
        const dp = d[s + prev];
        const dj = d[s + j];
        d[s + prev] = dp * c * c + dj * sn * sn;
        d[s + j] = dp * sn * sn + dj * c * c;
        defVal[nd] = d[s + prev];
        defCol[nd++] = prev;
        prev = j;
      } else {
        dl[k] = d[s + prev];
        zl[k] = zv[prev];
        colOf[k++] = prev;
        prev = j;
      }
    }
    if (prev >= 0) {
      dl[k] = d[s + prev];
      zl[k] = zv[prev];
      colOf[k++] = prev;
    }
  }

  // Gather the deflated columns (they are overwritten below) after the room the non-deflated ones need.
  const q = w.q;
  const defOff = m * k;
  for (let row = 0; row < m; row++) {
    const zr = base + row * ldz;
    const qr = defOff + row * nd;
    for (let t = 0; t < nd; t++) q[qr + t] = Z[zr + defCol[t]];
  }

  const c = w.c;
  const lambda = w.lambda;
  if (k > 0) {
    const u = w.u;
    solveRankOneUpdate(k, dl, zl, rho, lambda, u);
    // Order the non-deflated columns by type (top-only, mixed, bottom-only) so that each half of the product
    // runs over one contiguous range of them.
    const perm = w.perm;
    let np = 0;
    for (let ty = 1; ty <= 3; ty++) for (let t = 0; t < k; t++) if (type[colOf[t]] === ty) perm[np++] = t;
    let k1 = 0;
    let k3 = 0;
    for (let t = 0; t < k; t++) {
      const ty = type[colOf[t]];
      if (ty === 1) k1++;
      else if (ty === 3) k3++;
    }
    const k2 = k - k1 - k3;
    for (let row = 0; row < m; row++) {
      const zr = base + row * ldz;
      const qr = row * k;
      for (let t = 0; t < k; t++) q[qr + t] = Z[zr + colOf[perm[t]]];
    }
    const tmp = w.tmp;
    for (let i = 0; i < k; i++) {
      const r = i * k;
      for (let t = 0; t < k; t++) tmp[t] = u[r + perm[t]];
      for (let t = 0; t < k; t++) u[r + t] = tmp[t];
    }
    // C = Q_gathered · Uᵀ, top rows over types 1–2, bottom rows over types 2–3.
    gemmNT(n1, k, k1 + k2, 1, q, 0, k, u, 0, k, 0, c, 0, k);
    gemmNT(n2, k, k2 + k3, 1, q, n1 * k + k1, k, u, k1, k, 0, c, n1 * k, k);
  }

  // Write back all m eigenpairs in ascending order: merge λ (ascending) with the deflated values (sorted here).
  const outVal = w.outVal;
  const outSrc = w.outSrc;
  sortDeflated(defVal, defCol, nd);
  {
    let a = 0;
    let b = 0;
    for (let t = 0; t < m; t++) {
      if (b >= nd || (a < k && lambda[a] <= defVal[b])) {
        outVal[t] = lambda[a];
        outSrc[t] = a++;
      } else {
        outVal[t] = defVal[b];
        outSrc[t] = -1 - defCol[b++];
      }
    }
  }
  for (let t = 0; t < m; t++) d[s + t] = outVal[t];
  for (let row = 0; row < m; row++) {
    const zr = base + row * ldz;
    const cr = row * k;
    const qr = defOff + row * nd;
    for (let t = 0; t < m; t++) {
      const src = outSrc[t];
      Z[zr + t] = src >= 0 ? c[cr + src] : q[qr + (-1 - src)];
    }
  }
}

/**
 * Sorts the deflated values ascending, carrying their gathered column positions along. The gathered columns
 * are stored in the order deflation produced them, so the position is recorded before sorting.
 */
function sortDeflated(val: Float64Array, col: Int32Array, nd: number): void {
  // col[] is no longer needed after gathering: reuse it to hold each value's gathered position.
  for (let t = 0; t < nd; t++) col[t] = t;
  // Insertion sort: the list is nearly sorted already (deflation walks d in ascending order).
  for (let t = 1; t < nd; t++) {
    const v = val[t];
    const c = col[t];
    let u = t - 1;
    while (u >= 0 && val[u] > v) {
      val[u + 1] = val[u];
      col[u + 1] = col[u];
      u--;
    }
    val[u + 1] = v;
    col[u + 1] = c;
  }
}
