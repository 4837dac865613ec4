// f32 GEMM and SYRK over row-major matrices in the imported memory.
//
// The structure is the classic packed one (Goto & van de Geijn): op(B) is copied block by block into
// KC×NR column panels and op(A) into MR×KC row panels, so a single 4×8 register-tiled micro-kernel serves
// every transposition case at the same speed; the packing routines are the only code that knows whether a
// matrix is stored transposed. Packing pads the ragged edges with zeros, and a tile that sticks out of C is
// written through a small spill tile, so every size (including 1 and k = 1) runs through the same kernel.
//
// Pointers are byte offsets; leading dimensions are in elements. `scratch` points at `gemmScratchBytes()`
// bytes (16-byte aligned) that the caller owns: the packed panels live there.

const MR = 4;
const NR = 8;
// KC·NR·4 = 8 KiB of B micro-panel stays in L1 while the MR panels of A stream past it; an MC×KC block of A
// (128 KiB) and a KC×NC block of B (512 KiB) fit together in a 1 MiB L2.
const KC = 256;
const MC = 128;
const NC = 512;

const A_PACK_BYTES: usize = <usize>(MC * KC * 4);
const B_PACK_BYTES: usize = <usize>(KC * NC * 4);
const TILE_BYTES: usize = <usize>(MR * NR * 4);

/** Bytes of scratch `gemm` and `syrk` need. */
export function gemmScratchBytes(): usize {
  return A_PACK_BYTES + B_PACK_BYTES + TILE_BYTES;
}

/** a·b + c; a fused multiply-add in the relaxed-SIMD build. */
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/**
 * Packs rows [row0, row0+rows) × columns [p0, p0+kc) of a row-major matrix (leading dimension `ld`) into
 * panels of W rows: panel[p·W + r] = src[row0 + r, p0 + p]. Rows past the end are zero.
 */
function packRows(src: usize, ld: i32, row0: i32, rows: i32, p0: i32, kc: i32, W: i32, dst: usize): void {
  const panelBytes = <usize>(kc * W * 4);
  const rowBytes = (<usize>ld) << 2;
  for (let r = 0; r < rows; r += W) {
    const panel = dst + <usize>(r / W) * panelBytes;
    const valid = min(W, rows - r);
    if (valid === W) {
      for (let g = 0; g < W; g += 4) {
        const s0 = src + <usize>((row0 + r + g) * ld + p0) * 4;
        const s1 = s0 + rowBytes;
        const s2 = s1 + rowBytes;
        const s3 = s2 + rowBytes;
        let d = panel + <usize>g * 4;
        const step = <usize>W * 4;
        let p = 0;
        for (; p + 4 <= kc; p += 4) {
          const off = <usize>p * 4;
          const r0 = v128.load(s0 + off);
          const r1 = v128.load(s1 + off);
          const r2 = v128.load(s2 + off);
          const r3 = v128.load(s3 + off);
          // 4×4 transpose: column q of the four rows becomes packed row p + q.
          const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
          const t1 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
          const t2 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
          const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
          v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
          v128.store(d + step, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
          v128.store(d + 2 * step, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
          v128.store(d + 3 * step, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
          d += 4 * step;
        }
        for (; p < kc; p++) {
          const off = <usize>p * 4;
          store<f32>(d, load<f32>(s0 + off));
          store<f32>(d + 4, load<f32>(s1 + off));
          store<f32>(d + 8, load<f32>(s2 + off));
          store<f32>(d + 12, load<f32>(s3 + off));
          d += step;
        }
      }
    } else {
      for (let q = 0; q < W; q++) {
        let d = panel + <usize>q * 4;
        const step = <usize>W * 4;
        if (q < valid) {
          const s = src + <usize>((row0 + r + q) * ld + p0) * 4;
          for (let p = 0; p < kc; p++) {
            store<f32>(d, load<f32>(s + ((<usize>p) << 2)));
            d += step;
          }
        } else {
          for (let p = 0; p < kc; p++) {
            store<f32>(d, 0);
            d += step;
          }
        }
      }
    }
  }
}

/**
 * Packs rows [p0, p0+kc) × columns [col0, col0+cols) of a row-major matrix (leading dimension `ld`) into
 * panels of W columns: panel[p·W + c] = src[p0 + p, col0 + c]. Columns past the end are zero.
 */
function packCols(src: usize, ld: i32, col0: i32, cols: i32, p0: i32, kc: i32, W: i32, dst: usize): void {
  const panelBytes = <usize>(kc * W * 4);
  const rowBytes = (<usize>ld) << 2;
  for (let c = 0; c < cols; c += W) {
    const panel = dst + <usize>(c / W) * panelBytes;
    const valid = min(W, cols - c);
    let s = src + <usize>(p0 * ld + col0 + c) * 4;
    let d = panel;
    if (valid === W) {
      if (W === 8) {
        for (let p = 0; p < kc; p++) {
          v128.store(d, v128.load(s));
          v128.store(d, v128.load(s, 16), 16);
          s += rowBytes;
          d += 32;
        }
      } else {
        for (let p = 0; p < kc; p++) {
          v128.store(d, v128.load(s));
          s += rowBytes;
          d += 16;
        }
      }
    } else {
      for (let p = 0; p < kc; p++) {
        for (let q = 0; q < W; q++) {
          store<f32>(d + ((<usize>q) << 2), q < valid ? load<f32>(s + ((<usize>q) << 2)) : <f32>0);
        }
        s += rowBytes;
        d += <usize>W * 4;
      }
    }
  }
}

/** Stores one 8-wide row of a tile: c = alpha·x + beta·c, not reading c when beta = 0. */
function storeRow(c: usize, x0: v128, x1: v128, va: v128, beta: f32): void {
  if (beta === 0) {
    v128.store(c, f32x4.mul(x0, va));
    v128.store(c, f32x4.mul(x1, va), 16);
  } else if (beta === 1) {
    v128.store(c, madd(x0, va, v128.load(c)));
    v128.store(c, madd(x1, va, v128.load(c, 16)), 16);
  } else {
    const vb = f32x4.splat(beta);
    v128.store(c, madd(x0, va, f32x4.mul(v128.load(c), vb)));
    v128.store(c, madd(x1, va, f32x4.mul(v128.load(c, 16), vb)), 16);
  }
}

/**
 * C[0:mr, 0:nr] = alpha·(Ap·Bp) + beta·C for one MR×NR tile, Ap an MR×kc panel and Bp a kc×NR panel.
 * The accumulators stay in eight SIMD registers; `tile` is the spill area for a tile clipped by C's edge.
 */
function microKernel(
  kc: i32,
  ap: usize,
  bp: usize,
  c: usize,
  ldcBytes: usize,
  alpha: f32,
  beta: f32,
  mr: i32,
  nr: i32,
  tile: usize,
): void {
  let c00 = f32x4.splat(0);
  let c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0);
  let c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0);
  let c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0);
  let c31 = f32x4.splat(0);
  for (let p = 0; p < kc; p++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00);
    c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10);
    c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20);
    c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30);
    c31 = madd(a, b1, c31);
    ap += 16;
    bp += 32;
  }
  const va = f32x4.splat(alpha);
  if (mr === MR && nr === NR) {
    storeRow(c, c00, c01, va, beta);
    storeRow(c + ldcBytes, c10, c11, va, beta);
    storeRow(c + 2 * ldcBytes, c20, c21, va, beta);
    storeRow(c + 3 * ldcBytes, c30, c31, va, beta);
    return;
  }
  v128.store(tile, c00);
  v128.store(tile, c01, 16);
  v128.store(tile, c10, 32);
  v128.store(tile, c11, 48);
  v128.store(tile, c20, 64);
  v128.store(tile, c21, 80);
  v128.store(tile, c30, 96);
  v128.store(tile, c31, 112);
  for (let r = 0; r < mr; r++) {
    const row = c + <usize>r * ldcBytes;
    const t = tile + <usize>(r * NR * 4);
    for (let j = 0; j < nr; j++) {
      const dst = row + ((<usize>j) << 2);
      const v = alpha * load<f32>(t + ((<usize>j) << 2));
      store<f32>(dst, beta === 0 ? v : v + beta * load<f32>(dst));
    }
  }
}

/** C = beta·C over an m×n block (leading dimension ldc; the whole product when k = 0); beta = 0 writes zeros. */
function scaleC(c: usize, m: i32, n: i32, ldc: i32, beta: f32): void {
  if (beta === 1) return;
  for (let i = 0; i < m; i++) {
    const row = c + ((<usize>i * <usize>ldc) << 2);
    for (let j = 0; j < n; j++) {
      const p = row + ((<usize>j) << 2);
      store<f32>(p, beta === 0 ? <f32>0 : beta * load<f32>(p));
    }
  }
}

/**
 * C (m×n) = alpha·op(A)·op(B) + beta·C, each matrix addressed with its own leading dimension (elements between
 * consecutive stored rows). With `lowerOnly`, tiles wholly above the diagonal are skipped (SYRK); the tiles
 * crossing it are computed in full.
 */
function driver(
  transA: bool,
  transB: bool,
  m: i32,
  n: i32,
  k: i32,
  alpha: f32,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  beta: f32,
  c: usize,
  ldc: i32,
  scratch: usize,
  lowerOnly: bool,
): void {
  if (m <= 0 || n <= 0) return;
  if (k <= 0) {
    scaleC(c, m, n, ldc, beta);
    return;
  }
  const ap = scratch;
  const bp = scratch + A_PACK_BYTES;
  const tile = bp + B_PACK_BYTES;
  const ldcBytes = (<usize>ldc) << 2;
  for (let jc = 0; jc < n; jc += NC) {
    const nc = min(NC, n - jc);
    for (let pc = 0; pc < k; pc += KC) {
      const kc = min(KC, k - pc);
      // op(B)[p, j] is B[j, p] (B stored n×k) when transposed, else B[p, j] (B stored k×n).
      if (transB) packRows(b, ldb, jc, nc, pc, kc, NR, bp);
      else packCols(b, ldb, jc, nc, pc, kc, NR, bp);
      const betaK: f32 = pc === 0 ? beta : 1;
      for (let ic = 0; ic < m; ic += MC) {
        const mc = min(MC, m - ic);
        if (lowerOnly && ic + mc <= jc) continue;
        // op(A)[i, p] is A[p, i] (A stored k×m) when transposed, else A[i, p] (A stored m×k).
        if (transA) packCols(a, lda, ic, mc, pc, kc, MR, ap);
        else packRows(a, lda, ic, mc, pc, kc, MR, ap);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const bPanel = bp + <usize>(jr * kc * 4);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            if (lowerOnly && ic + ir + mr <= jc + jr) continue;
            const cTile = c + (<usize>(ic + ir) * <usize>ldc + <usize>(jc + jr)) * 4;
            microKernel(kc, ap + <usize>(ir * kc * 4), bPanel, cTile, ldcBytes, alpha, betaK, mr, nr, tile);
          }
        }
      }
    }
  }
}

/** Copies the lower triangle of the n×n matrix C onto its upper triangle, 4×4 blocks at a time. */
function mirrorLower(c: usize, n: i32): void {
  const rowBytes = (<usize>n) << 2;
  const full = n & ~3;
  for (let bi = 0; bi < full; bi += 4) {
    const r0 = c + <usize>bi * rowBytes;
    const r1 = r0 + rowBytes;
    const r2 = r1 + rowBytes;
    const r3 = r2 + rowBytes;
    // Blocks strictly left of the diagonal block: transpose rows bi..bi+3, cols bj..bj+3 into place.
    for (let bj = 0; bj < bi; bj += 4) {
      const off = (<usize>bj) << 2;
      const x0 = v128.load(r0 + off);
      const x1 = v128.load(r1 + off);
      const x2 = v128.load(r2 + off);
      const x3 = v128.load(r3 + off);
      const t0 = v128.shuffle<f32>(x0, x1, 0, 4, 1, 5);
      const t1 = v128.shuffle<f32>(x0, x1, 2, 6, 3, 7);
      const t2 = v128.shuffle<f32>(x2, x3, 0, 4, 1, 5);
      const t3 = v128.shuffle<f32>(x2, x3, 2, 6, 3, 7);
      const d = c + <usize>bj * rowBytes + ((<usize>bi) << 2);
      v128.store(d, v128.shuffle<f32>(t0, t2, 0, 1, 4, 5));
      v128.store(d + rowBytes, v128.shuffle<f32>(t0, t2, 2, 3, 6, 7));
      v128.store(d + 2 * rowBytes, v128.shuffle<f32>(t1, t3, 0, 1, 4, 5));
      v128.store(d + 3 * rowBytes, v128.shuffle<f32>(t1, t3, 2, 3, 6, 7));
    }
    // The diagonal block itself.
    for (let i = bi + 1; i < bi + 4; i++) {
      for (let j = bi; j < i; j++) {
        store<f32>(c + ((<usize>(j * n + i)) << 2), load<f32>(c + ((<usize>(i * n + j)) << 2)));
      }
    }
  }
  // Rows past the last full block of four.
  for (let i = full; i < n; i++) {
    for (let j = 0; j < i; j++) {
      store<f32>(c + ((<usize>(j * n + i)) << 2), load<f32>(c + ((<usize>(i * n + j)) << 2)));
    }
  }
}

/**
 * C = alpha·op(A)·op(B) + beta·C: op(A) is m×k (A stored k×m when `transA`), op(B) is k×n (B stored n×k when
 * `transB`), C is m×n. With beta = 0, C is never read.
 */
export function gemm(
  transA: bool,
  transB: bool,
  m: i32,
  n: i32,
  k: i32,
  alpha: f32,
  a: usize,
  b: usize,
  beta: f32,
  c: usize,
  scratch: usize,
): void {
  driver(transA, transB, m, n, k, alpha, a, transA ? m : k, b, transB ? k : n, beta, c, n, scratch, false);
}

/**
 * `gemm` on sub-matrices of larger row-major arrays: A is addressed as a[i·lda + p] (a[p·lda + i] when
 * `transA`), B as b[p·ldb + j] (b[j·ldb + p] when `transB`), C as c[i·ldc + j]. Blocked factorizations update
 * a trailing block in place with it.
 */
export function gemmStrided(
  transA: bool,
  transB: bool,
  m: i32,
  n: i32,
  k: i32,
  alpha: f32,
  a: usize,
  lda: i32,
  b: usize,
  ldb: i32,
  beta: f32,
  c: usize,
  ldc: i32,
  scratch: usize,
): void {
  driver(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, scratch, false);
}

/**
 * C (n×n) = alpha·A·Aᵀ + beta·C with A n×k, or alpha·Aᵀ·A + beta·C with A k×n when `trans`. Computes the
 * lower triangle tile by tile and mirrors it, so C comes out exactly symmetric.
 */
export function syrk(
  trans: bool,
  n: i32,
  k: i32,
  alpha: f32,
  a: usize,
  beta: f32,
  c: usize,
  scratch: usize,
): void {
  // op(A)·op(A)ᵀ: the B side is op(A)ᵀ, i.e. the same storage read with the opposite transposition.
  driver(trans, !trans, n, n, k, alpha, a, trans ? n : k, a, trans ? n : k, beta, c, n, scratch, true);
  mirrorLower(c, n);
}
