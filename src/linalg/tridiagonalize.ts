import { HeapWorkspace, type WasmTarget, type Workspace, wasmForAll } from './engine.ts';
import { transposeInto } from './gemm-nt.ts';
import { applyBlockReflector, makeReflector } from './householder.ts';

/**
 * Householder reduction of a symmetric matrix to tridiagonal form, `A = Q·T·Qᵀ` with
 * `Q = H_0·H_1⋯H_{n−3}` (LAPACK dsytrd's scheme, on the upper triangle of a row-major array, so that the
 * column each reflector annihilates is a contiguous row).
 *
 * Reflector k maps row k beyond the diagonal, entries k+1..n−1, onto a multiple of e_{k+1}; its vector has
 * v[k+1] = 1 and the rest is left in `a[k·n + k+2 ..]`. The update of the trailing block,
 * `B ← B − v·wᵀ − w·vᵀ` with `w = p − (τ/2)(pᵀv)·v`, `p = τ·B·v`, is fused with the product `B'·v'` for the next
 * reflector, so each step reads the trailing triangle once. That loop is the whole cost: (4/3)n³ flops.
 *
 * @param a n×n symmetric (only the upper triangle is read); overwritten with the reflectors.
 * @param d out: diagonal of T (n).
 * @param e out: off-diagonal of T (n−1).
 * @param tau out: reflector scales (n−2; τ = 0 means H = I).
 * @param ws where the step vectors live; with a WASM workspace (and `a` in it) the fused loop runs in WASM.
 */
export function tridiagonalize(
  a: Float64Array,
  n: number,
  d: Float64Array,
  e: Float64Array,
  tau: Float64Array,
  ws: Workspace = new HeapWorkspace(),
): void {
  if (n === 0) return;
  if (n >= 3) {
    const v = ws.f64(n);
    const w = ws.f64(n);
    const u = ws.f64(n);
    const p = ws.f64(n);
    const wasm = wasmForAll([a, v, w, u, p]);
    const update = (i0: number, x: Float64Array, y: Float64Array, z: Float64Array) =>
      wasm !== null ? fusedUpdateWasm(wasm, a, n, i0, x, y, z, p) : fusedUpdate(a, n, i0, x, y, z, p);
    tau[0] = makeReflector(a, 1, n - 1);
    loadReflector(a, n, 0, v);
    // p = B·v for the first trailing block (no update yet: w = 0 and the old vector v = 0).
    update(1, u, w, v);
    for (let k = 0; k <= n - 3; k++) {
      const tk = tau[k];
      // w = τ·p − (τ²/2)(pᵀv)·v on indexes k+1..n−1; p still lacks its factor τ.
      let dot = 0;
      for (let j = k + 1; j < n; j++) dot += p[j] * v[j];
      const kk = -0.5 * tk * tk * dot;
      for (let j = k + 1; j < n; j++) w[j] = tk * p[j] + kk * v[j];
      // Update row k+1 first: it holds the next reflector's column.
      const r = (k + 1) * n;
      const vk = v[k + 1];
      const wk = w[k + 1];
      for (let j = k + 1; j < n; j++) a[r + j] -= vk * w[j] + wk * v[j];
      u.fill(0);
      if (k + 1 <= n - 3) {
        tau[k + 1] = makeReflector(a, r + k + 2, n - k - 2);
        loadReflector(a, n, k + 1, u);
      }
      p.fill(0);
      update(k + 2, v, w, u);
      // Next step: v ← u (p already holds B'·u).
      v.set(u);
    }
  }
  for (let i = 0; i < n; i++) d[i] = a[i * n + i];
  for (let i = 0; i < n - 1; i++) e[i] = a[i * n + i + 1];
}

function fusedUpdateWasm(
  wasm: WasmTarget,
  a: Float64Array,
  n: number,
  i0: number,
  v: Float64Array,
  w: Float64Array,
  u: Float64Array,
  q: Float64Array,
): void {
  wasm.exports.dsytrdUpdate(n, a.byteOffset, i0, v.byteOffset, w.byteOffset, u.byteOffset, q.byteOffset);
}

/** Expands reflector k (vector over indexes k+1..n−1) into v, zeros elsewhere. */
function loadReflector(a: Float64Array, n: number, k: number, v: Float64Array): void {
  v.fill(0);
  v[k + 1] = 1;
  const r = k * n;
  for (let j = k + 2; j < n; j++) v[j] = a[r + j];
}

/**
 * On the upper triangle of rows i0..n−1: `a_ij ← a_ij − v_i·w_j − w_i·v_j`, and at the same time q += B·u with B
 * the updated symmetric block (each stored entry contributes to q_i and, off the diagonal, to q_j). Two rows per
 * pass share the loads of v, w, u and q.
 */
function fusedUpdate(
  a: Float64Array,
  n: number,
  i0: number,
  v: Float64Array,
  w: Float64Array,
  u: Float64Array,
  q: Float64Array,
): void {
  let i = i0;
  for (; i + 1 < n; i += 2) {
    const r0 = i * n;
    const r1 = r0 + n;
    const v0 = v[i];
    const w0 = w[i];
    const u0 = u[i];
    const v1 = v[i + 1];
    const w1 = w[i + 1];
    const u1 = u[i + 1];
    const a00 = a[r0 + i] - 2 * v0 * w0;
    const a01 = a[r0 + i + 1] - v0 * w1 - w0 * v1;
    const a11 = a[r1 + i + 1] - 2 * v1 * w1;
    a[r0 + i] = a00;
    a[r0 + i + 1] = a01;
    a[r1 + i + 1] = a11;
    let s0 = a00 * u0 + a01 * u1;
    let s1 = a01 * u0 + a11 * u1;
    for (let j = i + 2; j < n; j++) {
      const wj = w[j];
      const vj = v[j];
      const uj = u[j];
      const x0 = a[r0 + j] - v0 * wj - w0 * vj;
      const x1 = a[r1 + j] - v1 * wj - w1 * vj;
      a[r0 + j] = x0;
      a[r1 + j] = x1;
      s0 += x0 * uj;
      s1 += x1 * uj;
      q[j] += x0 * u0 + x1 * u1;
    }
    q[i] += s0;
    q[i + 1] += s1;
  }
  if (i < n) {
    const r0 = i * n;
    const x = a[r0 + i] - 2 * v[i] * w[i];
    a[r0 + i] = x;
    q[i] += x * u[i];
  }
}

/** Reflectors per block in the back-transformation. */
export const BACK_TRANSFORM_BLOCK = 48;
const NB = BACK_TRANSFORM_BLOCK;

/**
 * Back-transformation `X ← Q·X` for X given by rows, `xt = Xᵀ` (cols×n row-major, e.g. one eigenvector of T per
 * row): `xt ← xt·Qᵀ`. Q is applied as block reflectors `I − V·T·Vᵀ` of 48 reflectors each, last block first, so
 * the work is two matrix products per block (2·cols·n² flops in all).
 */
export function applyTridiagonalQ(
  a: Float64Array,
  n: number,
  tau: Float64Array,
  xt: Float64Array,
  cols: number,
  ws: Workspace = new HeapWorkspace(),
): void {
  const nr = n - 2; // number of reflectors
  if (nr <= 0 || cols === 0) return;
  const mark = ws.mark();
  const vt = ws.f64(NB * n);
  const v = ws.f64(n * NB);
  const last = Math.floor((nr - 1) / NB) * NB;
  for (let k0 = last; k0 >= 0; k0 -= NB) {
    const kb = Math.min(NB, nr - k0);
    const r0 = k0 + 1;
    const len = n - r0;
    vt.fill(0, 0, kb * len);
    for (let p = 0; p < kb; p++) {
      const src = (k0 + p) * n + r0;
      const dst = p * len;
      vt[dst + p] = 1;
      for (let r = p + 1; r < len; r++) vt[dst + r] = a[src + r];
    }
    transposeInto(kb, len, vt, 0, len, v, 0, kb);
    // X ← P·X on indexes ≥ r0, on xt = Xᵀ.
    applyBlockReflector(cols, len, kb, vt, v, tau, k0, xt, r0, n, true, ws);
  }
  ws.release(mark);
}
