// The panel factorization of the float32 Householder QR (src/linalg/qr-f32.ts): the twin of its TypeScript
// `factorPanelTs`, operation for operation except that the reflector applications run two rows and two lanes at
// a time (so sums differ from TypeScript in the last bits). Pointers are byte offsets into the imported memory.

/** a·b + c; fused in the relaxed-SIMD build. */
function fma2(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_madd(a, b, c);
  return f64x2.add(f64x2.mul(a, b), c);
}

/** c − a·b; fused in the relaxed-SIMD build. */
function fnma2(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_nmadd(a, b, c);
  return f64x2.sub(c, f64x2.mul(a, b));
}

function hsum2(v: v128): f64 {
  return f64x2.extract_lane(v, 0) + f64x2.extract_lane(v, 1);
}

/**
 * Factors the len×kb float32 panel at `a` (row-major, leading dimension lda: the columns k0 .. k0+kb−1 of A from
 * row k0 down) in float64:
 *
 * - the panel is copied transposed into `panel` (kb rows of len f64: row p is column p);
 * - for each column p, the reflector of LAPACK's dlarfg (β = −sign(x₀)·‖x‖, Fortran's SIGN; τ = 0 when the tail
 *   is exactly zero) is made with its tail v rounded to float32 and τ = 2/‖v‖² recomputed for the rounded v;
 *   τ goes to tau[p] and R_pp = β to rdiag[p] (f64 arrays), and the reflector is applied to rows p+1 .. kb−1;
 * - with `keepR` ≠ 0, R's part in the panel (row p's first p+1 entries: R[0..p, p]) is written back to `a`
 *   rounded to float32; otherwise `a` is only read;
 * - finally every row becomes its explicit vector: zeros before p, 1 at p, the tail after.
 */
export function qrPanelF32(
  a: usize,
  lda: i32,
  len: i32,
  kb: i32,
  panel: usize,
  tau: usize,
  rdiag: usize,
  keepR: i32,
): void {
  const rowB = (<usize>len) << 3;
  const ldaB = (<usize>lda) << 2;
  for (let r = 0; r < len; r++) {
    const src = a + <usize>r * ldaB;
    let dst = panel + ((<usize>r) << 3);
    for (let p = 0; p < kb; p++) {
      store<f64>(dst, <f64>load<f32>(src + ((<usize>p) << 2)));
      dst += rowB;
    }
  }
  for (let p = 0; p < kb; p++) {
    const x = panel + <usize>p * rowB + ((<usize>p) << 3);
    const n = len - p;
    const pB = (<usize>p) << 3;
    let t: f64 = 0;
    if (n > 1) {
      let ss: f64 = 0;
      for (let i = 1; i < n; i++) {
        const xi = load<f64>(x + ((<usize>i) << 3));
        ss += xi * xi;
      }
      if (ss !== 0) {
        const alpha = load<f64>(x);
        const norm = Math.sqrt(alpha * alpha + ss);
        // Fortran's SIGN: the sign bit decides, so −0 counts as negative.
        const beta = reinterpret<i64>(alpha) < 0 ? norm : -norm;
        const inv = 1 / (alpha - beta);
        let vv: f64 = 1;
        for (let i = 1; i < n; i++) {
          const ptr = x + ((<usize>i) << 3);
          const v = <f64>(<f32>(load<f64>(ptr) * inv));
          store<f64>(ptr, v);
          vv += v * v;
        }
        store<f64>(x, beta);
        t = 2 / vv;
      }
    }
    store<f64>(tau + pB, t);
    store<f64>(rdiag + pB, load<f64>(x));
    if (t !== 0) applyReflector(x, n, t, rowB, kb - p - 1);
  }
  if (keepR !== 0) {
    for (let p = 0; p < kb; p++) {
      const row = panel + <usize>p * rowB;
      const col = a + ((<usize>p) << 2);
      for (let r = 0; r <= p; r++) {
        store<f32>(col + <usize>r * ldaB, <f32>load<f64>(row + ((<usize>r) << 3)));
      }
    }
  }
  for (let p = 0; p < kb; p++) {
    const row = panel + <usize>p * rowB;
    memory.fill(row, 0, (<usize>p) << 3);
    store<f64>(row + ((<usize>p) << 3), 1);
  }
}

/**
 * Applies H = I − τ·v·vᵀ (v[0] = 1 implicit, v[1..n) at v + 8) to the `rows` rows that follow v's row (stride
 * rowB, same columns): x ← x − τ·(vᵀx)·v, two rows per pass over v.
 */
function applyReflector(v: usize, n: i32, t: f64, rowB: usize, rows: i32): void {
  const tail = n - 1;
  const tail2B = (<usize>(tail & ~1)) << 3;
  const odd = (tail & 1) !== 0;
  let x = v + rowB;
  let j = 0;
  for (; j + 1 < rows; j += 2) {
    const y = x + rowB;
    let s0 = f64x2.splat(0);
    let s1 = f64x2.splat(0);
    for (let p: usize = 0; p < tail2B; p += 16) {
      const vp = v128.load(v + 8 + p);
      s0 = fma2(vp, v128.load(x + 8 + p), s0);
      s1 = fma2(vp, v128.load(y + 8 + p), s1);
    }
    let d0 = load<f64>(x) + hsum2(s0);
    let d1 = load<f64>(y) + hsum2(s1);
    if (odd) {
      const vl = load<f64>(v + 8 + tail2B);
      d0 += vl * load<f64>(x + 8 + tail2B);
      d1 += vl * load<f64>(y + 8 + tail2B);
    }
    d0 *= t;
    d1 *= t;
    store<f64>(x, load<f64>(x) - d0);
    store<f64>(y, load<f64>(y) - d1);
    const e0 = f64x2.splat(d0);
    const e1 = f64x2.splat(d1);
    for (let p: usize = 0; p < tail2B; p += 16) {
      const vp = v128.load(v + 8 + p);
      v128.store(x + 8 + p, fnma2(e0, vp, v128.load(x + 8 + p)));
      v128.store(y + 8 + p, fnma2(e1, vp, v128.load(y + 8 + p)));
    }
    if (odd) {
      const vl = load<f64>(v + 8 + tail2B);
      store<f64>(x + 8 + tail2B, load<f64>(x + 8 + tail2B) - d0 * vl);
      store<f64>(y + 8 + tail2B, load<f64>(y + 8 + tail2B) - d1 * vl);
    }
    x = y + rowB;
  }
  if (j < rows) {
    let s0 = f64x2.splat(0);
    for (let p: usize = 0; p < tail2B; p += 16) s0 = fma2(v128.load(v + 8 + p), v128.load(x + 8 + p), s0);
    let d0 = load<f64>(x) + hsum2(s0);
    if (odd) d0 += load<f64>(v + 8 + tail2B) * load<f64>(x + 8 + tail2B);
    d0 *= t;
    store<f64>(x, load<f64>(x) - d0);
    const e0 = f64x2.splat(d0);
    for (let p: usize = 0; p < tail2B; p += 16) {
      v128.store(x + 8 + p, fnma2(e0, v128.load(v + 8 + p), v128.load(x + 8 + p)));
    }
    if (odd) store<f64>(x + 8 + tail2B, load<f64>(x + 8 + tail2B) - d0 * load<f64>(v + 8 + tail2B));
  }
}
