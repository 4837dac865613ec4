// Elementwise f32 kernels over `n` elements at byte offsets into the imported memory. Each runs four lanes at
// a time and finishes the last n mod 4 elements with the same arithmetic in scalar form.

/** a·b + c; a fused multiply-add in the relaxed-SIMD build. */
function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

/** y = alpha·x + beta·y. */
export function axpby(n: i32, alpha: f32, x: usize, beta: f32, y: usize): void {
  const va = f32x4.splat(alpha);
  const vb = f32x4.splat(beta);
  const end = (<usize>(n & ~3)) << 2;
  let i: usize = 0;
  for (; i < end; i += 16) {
    v128.store(y + i, madd(va, v128.load(x + i), f32x4.mul(vb, v128.load(y + i))));
  }
  const stop = (<usize>n) << 2;
  for (; i < stop; i += 4) store<f32>(y + i, alpha * load<f32>(x + i) + beta * load<f32>(y + i));
}

/** y = beta·y + alpha·x⊙x. */
export function emaSquare(n: i32, beta: f32, y: usize, alpha: f32, x: usize): void {
  const va = f32x4.splat(alpha);
  const vb = f32x4.splat(beta);
  const end = (<usize>(n & ~3)) << 2;
  let i: usize = 0;
  for (; i < end; i += 16) {
    const xi = v128.load(x + i);
    v128.store(y + i, madd(f32x4.mul(va, xi), xi, f32x4.mul(vb, v128.load(y + i))));
  }
  const stop = (<usize>n) << 2;
  for (; i < stop; i += 4) {
    const xi = load<f32>(x + i);
    store<f32>(y + i, beta * load<f32>(y + i) + alpha * xi * xi);
  }
}

/**
 * m = beta1·m + w1·g, v = beta2·v + w2·g⊙g with w = 1 − beta computed by the caller in f64 (1 − 0.999 formed
 * in f32 would carry a relative error near 1e-4).
 */
export function adamMoments(
  n: i32,
  g: usize,
  m: usize,
  v: usize,
  beta1: f32,
  w1: f32,
  beta2: f32,
  w2: f32,
): void {
  const vb1 = f32x4.splat(beta1);
  const vb2 = f32x4.splat(beta2);
  const vw1 = f32x4.splat(w1);
  const vw2 = f32x4.splat(w2);
  const end = (<usize>(n & ~3)) << 2;
  let i: usize = 0;
  for (; i < end; i += 16) {
    const gi = v128.load(g + i);
    v128.store(m + i, madd(vw1, gi, f32x4.mul(vb1, v128.load(m + i))));
    v128.store(v + i, madd(f32x4.mul(vw2, gi), gi, f32x4.mul(vb2, v128.load(v + i))));
  }
  const stop = (<usize>n) << 2;
  for (; i < stop; i += 4) {
    const gi = load<f32>(g + i);
    store<f32>(m + i, beta1 * load<f32>(m + i) + w1 * gi);
    store<f32>(v + i, beta2 * load<f32>(v + i) + w2 * gi * gi);
  }
}

/** out = m ⊘ (sqrt(v)·vScale + eps). */
export function adamDirection(n: i32, m: usize, v: usize, vScale: f32, eps: f32, out: usize): void {
  const vs = f32x4.splat(vScale);
  const ve = f32x4.splat(eps);
  const end = (<usize>(n & ~3)) << 2;
  let i: usize = 0;
  for (; i < end; i += 16) {
    const den = f32x4.add(f32x4.mul(f32x4.sqrt(v128.load(v + i)), vs), ve);
    v128.store(out + i, f32x4.div(v128.load(m + i), den));
  }
  const stop = (<usize>n) << 2;
  for (; i < stop; i += 4) {
    store<f32>(out + i, load<f32>(m + i) / (Mathf.sqrt(load<f32>(v + i)) * vScale + eps));
  }
}

/** Σ xᵢ², each square and the running sums in f64 (exact squares, no f32 cancellation). */
export function sumSquares(n: i32, x: usize): f64 {
  let acc0 = f64x2.splat(0);
  let acc1 = f64x2.splat(0);
  const end = (<usize>(n & ~3)) << 2;
  let i: usize = 0;
  for (; i < end; i += 16) {
    const xi = v128.load(x + i);
    const lo = f64x2.promote_low_f32x4(xi);
    const hi = f64x2.promote_low_f32x4(v128.shuffle<f32>(xi, xi, 2, 3, 2, 3));
    acc0 = f64x2.add(acc0, f64x2.mul(lo, lo));
    acc1 = f64x2.add(acc1, f64x2.mul(hi, hi));
  }
  const acc = f64x2.add(acc0, acc1);
  let sum = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  const stop = (<usize>n) << 2;
  for (; i < stop; i += 4) {
    const xi = <f64>load<f32>(x + i);
    sum += xi * xi;
  }
  return sum;
}

/** x[i, j] *= s[i] for a rows×cols matrix x. */
export function scaleRows(x: usize, rows: i32, cols: i32, s: usize): void {
  const rowBytes = (<usize>cols) << 2;
  const end = (<usize>(cols & ~3)) << 2;
  for (let r = 0; r < rows; r++) {
    const row = x + <usize>r * rowBytes;
    const si = load<f32>(s + ((<usize>r) << 2));
    const vs = f32x4.splat(si);
    let j: usize = 0;
    for (; j < end; j += 16) v128.store(row + j, f32x4.mul(v128.load(row + j), vs));
    for (; j < rowBytes; j += 4) store<f32>(row + j, load<f32>(row + j) * si);
  }
}

/** x[i, j] *= s[j] for a rows×cols matrix x. */
export function scaleCols(x: usize, rows: i32, cols: i32, s: usize): void {
  const rowBytes = (<usize>cols) << 2;
  const end = (<usize>(cols & ~3)) << 2;
  for (let r = 0; r < rows; r++) {
    const row = x + <usize>r * rowBytes;
    let j: usize = 0;
    for (; j < end; j += 16) v128.store(row + j, f32x4.mul(v128.load(row + j), v128.load(s + j)));
    for (; j < rowBytes; j += 4) store<f32>(row + j, load<f32>(row + j) * load<f32>(s + j));
  }
}

/** 1 when every element is finite, else 0. x·0 is 0 for finite x and NaN for ±Infinity and NaN. */
export function allFinite(n: i32, x: usize): i32 {
  const zero = f32x4.splat(0);
  let acc = zero;
  const end = (<usize>(n & ~3)) << 2;
  let i: usize = 0;
  for (; i < end; i += 16) acc = f32x4.add(acc, f32x4.mul(v128.load(x + i), zero));
  let tail: f32 = 0;
  const stop = (<usize>n) << 2;
  for (; i < stop; i += 4) tail += load<f32>(x + i) * 0;
  return i32(v128.all_true<i32>(f32x4.eq(acc, zero)) && tail === 0);
}
