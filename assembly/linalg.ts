// float64 kernels of the dense linear algebra (src/linalg): the TypeScript code keeps the algorithms and calls
// these for its inner loops when its buffers live in the instance's memory. Each mirrors a TypeScript twin in
// src/linalg (gemm-nt.ts, tridiagonalize.ts) operation for operation, two lanes at a time.
//
// Pointers are byte offsets into the imported memory; leading dimensions are in elements.

/** a·b + c; a fused multiply-add in the relaxed-SIMD build. */
function madd2(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_madd(a, b, c);
  return f64x2.add(f64x2.mul(a, b), c);
}

function hsum(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

const KB: i32 = 256;
const JB: i32 = 96;

/** Bytes of scratch `dgemmNT` needs (the packed panel of B and a spill tile). */
export function dgemmScratchBytes(): usize {
  return (<usize>(PACK_KC * PACK_NC + 64)) << 3;
}

/**
 * C = alpha·A·Bᵀ + beta·C for A m×k (leading dimension lda), B n×k (ldb), C m×n (ldc), all row-major f64.
 * `lower` ≠ 0 computes only j ≤ i (up to whole tiles straddling the diagonal); the other entries of C may be
 * left scaled by beta or partly accumulated. `scratch` points at `dgemmScratchBytes()` bytes.
 *
 * The twin of gemmNT in src/linalg/gemm-nt.ts. With fused multiply-add (the relaxed build) the 3×3 tiles of dot
 * products, two k at a time, are fastest; with separate multiply and add, a packed 4×6 broadcast kernel is
 * (about 13 against 10 GFlop/s), except for very short products where packing does not pay.
 */
export function dgemmNT(
  m: i32,
  n: i32,
  k: i32,
  alpha: f64,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  beta: f64,
  c: usize,
  ldc: i32,
  lower: i32,
  scratch: usize,
): void {
  if (m <= 0 || n <= 0) return;
  if (ASC_FEATURE_RELAXED_SIMD || m < 8 || k < 8) {
    gemmDot(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, lower);
    return;
  }
  scaleC(m, n, beta, c, ldc, lower);
  if (k <= 0 || alpha === 0.0) return;
  gemmPacked(m, n, k, alpha, a, lda, b, ldb, c, ldc, lower, scratch);
}

/** C ← beta·C on the computed part (j ≤ i when lower); beta = 0 writes zeros without reading C. */
function scaleC(m: i32, n: i32, beta: f64, c: usize, ldc: i32, lower: i32): void {
  if (beta === 1.0) return;
  const ldcB = (<usize>ldc) << 3;
  for (let i = 0; i < m; i++) {
    const r = c + <usize>i * ldcB;
    const jEnd = lower ? min(n, i + 1) : n;
    if (beta === 0.0) memory.fill(r, 0, (<usize>jEnd) << 3);
    else
      for (let j = 0; j < jEnd; j++)
        store<f64>(r + ((<usize>j) << 3), load<f64>(r + ((<usize>j) << 3)) * beta);
  }
}

const PACK_KC: i32 = 256;
const PACK_NC: i32 = 120;

/** Copies B[j0 .. j0+nc) × [p0, p0+kc) into panels of 6 rows, k-major: dst[panel][p][6]; zero-padded. */
function packB(b: usize, ldb: i32, j0: i32, nc: i32, p0: i32, kc: i32, dst: usize): void {
  const ldbB = (<usize>ldb) << 3;
  const panelBytes = (<usize>(kc * 6)) << 3;
  for (let jp = 0; jp < nc; jp += 6) {
    const panel = dst + <usize>(jp / 6) * panelBytes;
    for (let q = 0; q < 6; q++) {
      const j = jp + q;
      let d = panel + ((<usize>q) << 3);
      if (j < nc) {
        const src = b + <usize>(j0 + j) * ldbB + ((<usize>p0) << 3);
        for (let p = 0; p < kc; p++, d += 48) store<f64>(d, load<f64>(src + ((<usize>p) << 3)));
      } else {
        for (let p = 0; p < kc; p++, d += 48) store<f64>(d, 0);
      }
    }
  }
}

/** Adds alpha·(tile row r of 6 held in t) to C for the valid columns. */
function addTileRow(cRow: usize, t: usize, valid: i32, alpha: f64): void {
  for (let q = 0; q < valid; q++) {
    const ptr = cRow + ((<usize>q) << 3);
    store<f64>(ptr, load<f64>(ptr) + alpha * load<f64>(t + ((<usize>q) << 3)));
  }
}

function gemmPacked(
  m: i32,
  n: i32,
  k: i32,
  alpha: f64,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  c: usize,
  ldc: i32,
  lower: i32,
  scratch: usize,
): void {
  const ldaB = (<usize>lda) << 3;
  const ldcB = (<usize>ldc) << 3;
  const tile = scratch + ((<usize>(PACK_KC * PACK_NC)) << 3);
  const va = f64x2.splat(alpha);
  const m4 = m & ~3;
  for (let p0 = 0; p0 < k; p0 += PACK_KC) {
    const kc = min(PACK_KC, k - p0);
    const panelBytes = (<usize>(kc * 6)) << 3;
    for (let j0 = 0; j0 < n; j0 += PACK_NC) {
      const nc = min(PACK_NC, n - j0);
      if (lower && j0 > m - 1) break;
      packB(b, ldb, j0, nc, p0, kc, scratch);
      for (let i = 0; i < m4; i += 4) {
        const a0 = a + <usize>i * ldaB + ((<usize>p0) << 3);
        const a1 = a0 + ldaB;
        const a2 = a1 + ldaB;
        const a3 = a2 + ldaB;
        for (let jp = 0; jp < nc; jp += 6) {
          if (lower && j0 + jp > i + 3) break;
          let bq = scratch + <usize>(jp / 6) * panelBytes;
          let c00 = f64x2.splat(0);
          let c01 = f64x2.splat(0);
          let c02 = f64x2.splat(0);
          let c10 = f64x2.splat(0);
          let c11 = f64x2.splat(0);
          let c12 = f64x2.splat(0);
          let c20 = f64x2.splat(0);
          let c21 = f64x2.splat(0);
          let c22 = f64x2.splat(0);
          let c30 = f64x2.splat(0);
          let c31 = f64x2.splat(0);
          let c32 = f64x2.splat(0);
          const end = (<usize>kc) << 3;
          for (let pB: usize = 0; pB < end; pB += 8, bq += 48) {
            const b0 = v128.load(bq);
            const b1 = v128.load(bq, 16);
            const b2 = v128.load(bq, 32);
            let x = v128.load64_splat(a0 + pB);
            c00 = madd2(x, b0, c00);
            c01 = madd2(x, b1, c01);
            c02 = madd2(x, b2, c02);
            x = v128.load64_splat(a1 + pB);
            c10 = madd2(x, b0, c10);
            c11 = madd2(x, b1, c11);
            c12 = madd2(x, b2, c12);
            x = v128.load64_splat(a2 + pB);
            c20 = madd2(x, b0, c20);
            c21 = madd2(x, b1, c21);
            c22 = madd2(x, b2, c22);
            x = v128.load64_splat(a3 + pB);
            c30 = madd2(x, b0, c30);
            c31 = madd2(x, b1, c31);
            c32 = madd2(x, b2, c32);
          }
          const valid = min(6, nc - jp);
          const d0 = c + <usize>i * ldcB + ((<usize>(j0 + jp)) << 3);
          const d1 = d0 + ldcB;
          const d2 = d1 + ldcB;
          const d3 = d2 + ldcB;
          if (valid === 6) {
            v128.store(d0, madd2(va, c00, v128.load(d0)));
            v128.store(d0, madd2(va, c01, v128.load(d0, 16)), 16);
            v128.store(d0, madd2(va, c02, v128.load(d0, 32)), 32);
            v128.store(d1, madd2(va, c10, v128.load(d1)));
            v128.store(d1, madd2(va, c11, v128.load(d1, 16)), 16);
            v128.store(d1, madd2(va, c12, v128.load(d1, 32)), 32);
            v128.store(d2, madd2(va, c20, v128.load(d2)));
            v128.store(d2, madd2(va, c21, v128.load(d2, 16)), 16);
            v128.store(d2, madd2(va, c22, v128.load(d2, 32)), 32);
            v128.store(d3, madd2(va, c30, v128.load(d3)));
            v128.store(d3, madd2(va, c31, v128.load(d3, 16)), 16);
            v128.store(d3, madd2(va, c32, v128.load(d3, 32)), 32);
          } else {
            v128.store(tile, c00);
            v128.store(tile, c01, 16);
            v128.store(tile, c02, 32);
            addTileRow(d0, tile, valid, alpha);
            v128.store(tile, c10);
            v128.store(tile, c11, 16);
            v128.store(tile, c12, 32);
            addTileRow(d1, tile, valid, alpha);
            v128.store(tile, c20);
            v128.store(tile, c21, 16);
            v128.store(tile, c22, 32);
            addTileRow(d2, tile, valid, alpha);
            v128.store(tile, c30);
            v128.store(tile, c31, 16);
            v128.store(tile, c32, 32);
            addTileRow(d3, tile, valid, alpha);
          }
        }
      }
      // Leftover rows (fewer than 4): one row against each panel.
      for (let i = m4; i < m; i++) {
        const a0 = a + <usize>i * ldaB + ((<usize>p0) << 3);
        for (let jp = 0; jp < nc; jp += 6) {
          if (lower && j0 + jp > i) break;
          let bq = scratch + <usize>(jp / 6) * panelBytes;
          let c00 = f64x2.splat(0);
          let c01 = f64x2.splat(0);
          let c02 = f64x2.splat(0);
          const end = (<usize>kc) << 3;
          for (let pB: usize = 0; pB < end; pB += 8, bq += 48) {
            const x = v128.load64_splat(a0 + pB);
            c00 = madd2(x, v128.load(bq), c00);
            c01 = madd2(x, v128.load(bq, 16), c01);
            c02 = madd2(x, v128.load(bq, 32), c02);
          }
          v128.store(tile, c00);
          v128.store(tile, c01, 16);
          v128.store(tile, c02, 32);
          addTileRow(c + <usize>i * ldcB + ((<usize>(j0 + jp)) << 3), tile, min(6, nc - jp), alpha);
        }
      }
    }
  }
}

/** The 3×3 dot-product tiles (see dgemmNT). */
function gemmDot(
  m: i32,
  n: i32,
  k: i32,
  alpha: f64,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  beta: f64,
  c: usize,
  ldc: i32,
  lower: i32,
): void {
  if (m <= 0 || n <= 0) return;
  const ldcB = (<usize>ldc) << 3;
  if (beta !== 1.0) {
    for (let i = 0; i < m; i++) {
      const r = c + <usize>i * ldcB;
      const jEnd = lower ? min(n, i + 1) : n;
      if (beta === 0.0) memory.fill(r, 0, (<usize>jEnd) << 3);
      else
        for (let j = 0; j < jEnd; j++)
          store<f64>(r + ((<usize>j) << 3), load<f64>(r + ((<usize>j) << 3)) * beta);
    }
  }
  if (k <= 0 || alpha === 0.0) return;
  const ldaB = (<usize>lda) << 3;
  const ldbB = (<usize>ldb) << 3;
  const m3 = m - (m % 3);
  for (let kk = 0; kk < k; kk += KB) {
    const ke = min(k, kk + KB);
    const kc = ke - kk;
    const kc2 = kc & ~1;
    const kOff = (<usize>kk) << 3;
    const kc2B = (<usize>kc2) << 3;
    const odd = kc & 1;
    for (let jj = 0; jj < n; jj += JB) {
      const je = min(n, jj + JB);
      const je3 = je - ((je - jj) % 3);
      for (let i = 0; i < m3; i += 3) {
        if (lower && jj > i + 2) continue;
        const a0 = a + <usize>i * ldaB + kOff;
        const a1 = a0 + ldaB;
        const a2 = a1 + ldaB;
        const c0 = c + <usize>i * ldcB;
        const c1 = c0 + ldcB;
        const c2 = c1 + ldcB;
        const jLim = lower ? min(je3, i + 3) : je3;
        let j = jj;
        for (; j < jLim; j += 3) {
          const b0 = b + <usize>j * ldbB + kOff;
          const b1 = b0 + ldbB;
          const b2 = b1 + ldbB;
          let s00 = f64x2.splat(0);
          let s01 = f64x2.splat(0);
          let s02 = f64x2.splat(0);
          let s10 = f64x2.splat(0);
          let s11 = f64x2.splat(0);
          let s12 = f64x2.splat(0);
          let s20 = f64x2.splat(0);
          let s21 = f64x2.splat(0);
          let s22 = f64x2.splat(0);
          for (let p: usize = 0; p < kc2B; p += 16) {
            const x0 = v128.load(a0 + p);
            const x1 = v128.load(a1 + p);
            const x2 = v128.load(a2 + p);
            const y0 = v128.load(b0 + p);
            const y1 = v128.load(b1 + p);
            const y2 = v128.load(b2 + p);
            s00 = madd2(x0, y0, s00);
            s01 = madd2(x0, y1, s01);
            s02 = madd2(x0, y2, s02);
            s10 = madd2(x1, y0, s10);
            s11 = madd2(x1, y1, s11);
            s12 = madd2(x1, y2, s12);
            s20 = madd2(x2, y0, s20);
            s21 = madd2(x2, y1, s21);
            s22 = madd2(x2, y2, s22);
          }
          let t00 = hsum(s00);
          let t01 = hsum(s01);
          let t02 = hsum(s02);
          let t10 = hsum(s10);
          let t11 = hsum(s11);
          let t12 = hsum(s12);
          let t20 = hsum(s20);
          let t21 = hsum(s21);
          let t22 = hsum(s22);
          if (odd) {
            const x0 = load<f64>(a0 + kc2B);
            const x1 = load<f64>(a1 + kc2B);
            const x2 = load<f64>(a2 + kc2B);
            const y0 = load<f64>(b0 + kc2B);
            const y1 = load<f64>(b1 + kc2B);
            const y2 = load<f64>(b2 + kc2B);
            t00 += x0 * y0;
            t01 += x0 * y1;
            t02 += x0 * y2;
            t10 += x1 * y0;
            t11 += x1 * y1;
            t12 += x1 * y2;
            t20 += x2 * y0;
            t21 += x2 * y1;
            t22 += x2 * y2;
          }
          const cj = (<usize>j) << 3;
          store<f64>(c0 + cj, load<f64>(c0 + cj) + alpha * t00);
          store<f64>(c0 + cj + 8, load<f64>(c0 + cj + 8) + alpha * t01);
          store<f64>(c0 + cj + 16, load<f64>(c0 + cj + 16) + alpha * t02);
          store<f64>(c1 + cj, load<f64>(c1 + cj) + alpha * t10);
          store<f64>(c1 + cj + 8, load<f64>(c1 + cj + 8) + alpha * t11);
          store<f64>(c1 + cj + 16, load<f64>(c1 + cj + 16) + alpha * t12);
          store<f64>(c2 + cj, load<f64>(c2 + cj) + alpha * t20);
          store<f64>(c2 + cj + 8, load<f64>(c2 + cj + 8) + alpha * t21);
          store<f64>(c2 + cj + 16, load<f64>(c2 + cj + 16) + alpha * t22);
        }
        const jTail = lower ? min(je, i + 3) : je;
        for (; j < jTail; j++) {
          const b0 = b + <usize>j * ldbB + kOff;
          let s0 = f64x2.splat(0);
          let s1 = f64x2.splat(0);
          let s2 = f64x2.splat(0);
          for (let p: usize = 0; p < kc2B; p += 16) {
            const y = v128.load(b0 + p);
            s0 = madd2(v128.load(a0 + p), y, s0);
            s1 = madd2(v128.load(a1 + p), y, s1);
            s2 = madd2(v128.load(a2 + p), y, s2);
          }
          let t0 = hsum(s0);
          let t1 = hsum(s1);
          let t2 = hsum(s2);
          if (odd) {
            const y = load<f64>(b0 + kc2B);
            t0 += load<f64>(a0 + kc2B) * y;
            t1 += load<f64>(a1 + kc2B) * y;
            t2 += load<f64>(a2 + kc2B) * y;
          }
          const cj = (<usize>j) << 3;
          store<f64>(c0 + cj, load<f64>(c0 + cj) + alpha * t0);
          store<f64>(c1 + cj, load<f64>(c1 + cj) + alpha * t1);
          store<f64>(c2 + cj, load<f64>(c2 + cj) + alpha * t2);
        }
      }
      for (let i = m3; i < m; i++) {
        const a0 = a + <usize>i * ldaB + kOff;
        const c0 = c + <usize>i * ldcB;
        const jEnd = lower ? min(je, i + 1) : je;
        for (let j = jj; j < jEnd; j++) {
          const b0 = b + <usize>j * ldbB + kOff;
          let s = f64x2.splat(0);
          for (let p: usize = 0; p < kc2B; p += 16) s = madd2(v128.load(a0 + p), v128.load(b0 + p), s);
          let t = hsum(s);
          if (odd) t += load<f64>(a0 + kc2B) * load<f64>(b0 + kc2B);
          const cj = (<usize>j) << 3;
          store<f64>(c0 + cj, load<f64>(c0 + cj) + alpha * t);
        }
      }
    }
  }
}

/** c − a·b; fused in the relaxed-SIMD build. */
function nmadd2(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_nmadd(a, b, c);
  return f64x2.sub(c, f64x2.mul(a, b));
}

/**
 * One fused step of the Householder tridiagonalisation (the twin of fusedUpdate in
 * src/linalg/tridiagonalize.ts): on the upper triangle of rows i0..n−1 of the n×n row-major a,
 * `a_ij ← a_ij − v_i·w_j − w_i·v_j`, and q += B·u with B the updated symmetric block. v, w, u, q are
 * float64 vectors of length n.
 */
export function dsytrdUpdate(n: i32, a: usize, i0: i32, v: usize, w: usize, u: usize, q: usize): void {
  const rowB = (<usize>n) << 3;
  let i = i0;
  for (; i + 1 < n; i += 2) {
    const r0 = a + <usize>i * rowB;
    const r1 = r0 + rowB;
    const iB = (<usize>i) << 3;
    const v0 = load<f64>(v + iB);
    const w0 = load<f64>(w + iB);
    const u0 = load<f64>(u + iB);
    const v1 = load<f64>(v + iB + 8);
    const w1 = load<f64>(w + iB + 8);
    const u1 = load<f64>(u + iB + 8);
    const a00 = load<f64>(r0 + iB) - 2 * v0 * w0;
    const a01 = load<f64>(r0 + iB + 8) - v0 * w1 - w0 * v1;
    const a11 = load<f64>(r1 + iB + 8) - 2 * v1 * w1;
    store<f64>(r0 + iB, a00);
    store<f64>(r0 + iB + 8, a01);
    store<f64>(r1 + iB + 8, a11);
    let t0 = a00 * u0 + a01 * u1;
    let t1 = a01 * u0 + a11 * u1;
    const vv0 = f64x2.splat(v0);
    const ww0 = f64x2.splat(w0);
    const uu0 = f64x2.splat(u0);
    const vv1 = f64x2.splat(v1);
    const ww1 = f64x2.splat(w1);
    const uu1 = f64x2.splat(u1);
    let s0 = f64x2.splat(0);
    let s1 = f64x2.splat(0);
    let j = i + 2;
    for (; j + 1 < n; j += 2) {
      const jB = (<usize>j) << 3;
      const wj = v128.load(w + jB);
      const vj = v128.load(v + jB);
      const uj = v128.load(u + jB);
      const x0 = nmadd2(ww0, vj, nmadd2(vv0, wj, v128.load(r0 + jB)));
      const x1 = nmadd2(ww1, vj, nmadd2(vv1, wj, v128.load(r1 + jB)));
      v128.store(r0 + jB, x0);
      v128.store(r1 + jB, x1);
      s0 = madd2(x0, uj, s0);
      s1 = madd2(x1, uj, s1);
      v128.store(q + jB, madd2(x1, uu1, madd2(x0, uu0, v128.load(q + jB))));
    }
    if (j < n) {
      const jB = (<usize>j) << 3;
      const wj = load<f64>(w + jB);
      const vj = load<f64>(v + jB);
      const uj = load<f64>(u + jB);
      const x0 = load<f64>(r0 + jB) - v0 * wj - w0 * vj;
      const x1 = load<f64>(r1 + jB) - v1 * wj - w1 * vj;
      store<f64>(r0 + jB, x0);
      store<f64>(r1 + jB, x1);
      t0 += x0 * uj;
      t1 += x1 * uj;
      store<f64>(q + jB, load<f64>(q + jB) + x0 * u0 + x1 * u1);
    }
    store<f64>(q + iB, load<f64>(q + iB) + t0 + hsum(s0));
    store<f64>(q + iB + 8, load<f64>(q + iB + 8) + t1 + hsum(s1));
  }
  if (i < n) {
    const iB = (<usize>i) << 3;
    const r0 = a + <usize>i * rowB;
    const x = load<f64>(r0 + iB) - 2 * load<f64>(v + iB) * load<f64>(w + iB);
    store<f64>(r0 + iB, x);
    store<f64>(q + iB, load<f64>(q + iB) + x * load<f64>(u + iB));
  }
}

/**
 * Applies the reflector H = I − τ·v·vᵀ held in row k of the row-major matrix a (leading dimension ld) to rows
 * j0..j1−1 of a, over columns k..k+len−1: v[0] = 1 (implicit) and v[1..] = a[k][k+1 ..]. For each row x:
 * `x ← x − τ·(vᵀx)·v`. The twin of reflectRows in src/linalg/householder.ts.
 */
export function dreflectRows(a: usize, ld: i32, k: i32, len: i32, tau: f64, j0: i32, j1: i32): void {
  const ldB = (<usize>ld) << 3;
  const kB = (<usize>k) << 3;
  const v = a + <usize>k * ldB + kB;
  const tail = len - 1;
  const tail2 = tail & ~1;
  const tail2B = (<usize>tail2) << 3;
  for (let j = j0; j < j1; j++) {
    const x = a + <usize>j * ldB + kB;
    let s = f64x2.splat(0);
    for (let p: usize = 0; p < tail2B; p += 16) s = madd2(v128.load(v + 8 + p), v128.load(x + 8 + p), s);
    let dot = load<f64>(x) + hsum(s);
    if (tail & 1) dot += load<f64>(v + 8 + tail2B) * load<f64>(x + 8 + tail2B);
    dot *= tau;
    store<f64>(x, load<f64>(x) - dot);
    const d2 = f64x2.splat(dot);
    for (let p: usize = 0; p < tail2B; p += 16) {
      v128.store(x + 8 + p, nmadd2(d2, v128.load(v + 8 + p), v128.load(x + 8 + p)));
    }
    if (tail & 1) store<f64>(x + 8 + tail2B, load<f64>(x + 8 + tail2B) - dot * load<f64>(v + 8 + tail2B));
  }
}
