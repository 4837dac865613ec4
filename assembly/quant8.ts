// 8-bit linear block codec: blocks of `block` consecutive f32, an f32 absmax scale per block, a signed byte
// q = round(127·x/absmax) per element (ties away from zero). Every buffer is a byte offset into the imported
// memory; nothing here allocates.
//
// The TypeScript functions in src/storage/quant8.ts are the reference and these kernels reproduce them bit for
// bit: the same IEEE f64 operations in the same order (127/absmax, x·toCode, floor(u + 0.5) or
// −floor(0.5 − u), the clamp to ±127), NaN → 0, and decoding as one f32 rounding of q·(scale/127) computed
// in f64. WASM never contracts a·b + c into a fused multiply-add, so the relaxed-SIMD build gives the same bits.

import { blockAbsmax } from './block-absmax';

const LEVELS: f64 = 127;

/**
 * The codes of two f64 lanes u = x·toCode: min(127, floor(u + 0.5)) where u ≥ 0, else
 * max(−127, −floor(0.5 − u)), as i32 in lanes 0 and 1 (lanes 2 and 3 zero). A NaN lane fails u ≥ 0, stays NaN
 * through the clamp (min/max propagate NaN) and truncates to 0, as the reference stores it.
 */
function codes2(u: v128, half: v128, hi: v128, lo: v128, zero: v128): v128 {
  const up = f64x2.min(hi, f64x2.floor(f64x2.add(u, half)));
  const down = f64x2.max(lo, f64x2.neg(f64x2.floor(f64x2.sub(half, u))));
  return i32x4.trunc_sat_f64x2_s_zero(v128.bitselect(up, down, f64x2.ge(u, zero)));
}

/** The four i32 codes of the f32x4 `v` times `toCode` (promoted to f64 lane by lane). */
function codes4(v: v128, toCode: v128, half: v128, hi: v128, lo: v128, zero: v128): v128 {
  const a = codes2(f64x2.mul(f64x2.promote_low_f32x4(v), toCode), half, hi, lo, zero);
  const vHigh = v128.shuffle<f32>(v, v, 2, 3, 2, 3);
  const b = codes2(f64x2.mul(f64x2.promote_low_f32x4(vHigh), toCode), half, hi, lo, zero);
  return v128.shuffle<i32>(a, b, 0, 1, 4, 5);
}

/**
 * Quantizes n f32 at `x` into `codes` (n bytes, two's complement) and `scales` (⌈n/block⌉ f32). A block whose
 * absmax is 0 or +∞ codes every element as 0, as does a NaN element (NaN never becomes the scale).
 */
export function quant8Quantize(x: usize, n: i32, codes: usize, scales: usize, block: i32): void {
  const half = f64x2.splat(0.5);
  const hi = f64x2.splat(LEVELS);
  const lo = f64x2.splat(-LEVELS);
  const zero = f64x2.splat(0);
  let p = x;
  let c = codes;
  let s = scales;
  // Counting down what is left avoids forming b + block, which could overflow i32 for a huge block.
  for (let rem = n; rem > 0; ) {
    const len = min(rem, block);
    const absmax = blockAbsmax(p, len);
    store<f32>(s, absmax);
    const am = <f64>absmax;
    const toCode: f64 = am === 0 || am === Infinity ? 0 : LEVELS / am;
    const vt = f64x2.splat(toCode);
    let i = 0;
    // 16 elements → four i32x4 of codes in [−127, 127] → 16 bytes (the narrowing never saturates).
    for (; i + 16 <= len; i += 16) {
      const q = p + ((<usize>i) << 2);
      const c0 = codes4(v128.load(q), vt, half, hi, lo, zero);
      const c1 = codes4(v128.load(q, 16), vt, half, hi, lo, zero);
      const c2 = codes4(v128.load(q, 32), vt, half, hi, lo, zero);
      const c3 = codes4(v128.load(q, 48), vt, half, hi, lo, zero);
      const bytes = i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(c0, c1), i16x8.narrow_i32x4_s(c2, c3));
      v128.store(c + <usize>i, bytes);
    }
    for (; i < len; i++) {
      const u = <f64>load<f32>(p + ((<usize>i) << 2)) * toCode;
      const q: f64 = u >= 0 ? min(LEVELS, floor(u + 0.5)) : max(-LEVELS, -floor(0.5 - u));
      store<u8>(c + <usize>i, Number.isNaN(q) ? 0 : <u8>(<i32>q));
    }
    p += (<usize>len) << 2;
    c += <usize>len;
    s += 4;
    rem -= len;
  }
}

/** Inverse of `quant8Quantize`: n f32 at `out`, `out[i] = f32(q_i·(scale/127))` with the product in f64. */
export function quant8Dequantize(codes: usize, scales: usize, n: i32, block: i32, out: usize): void {
  let o = out;
  let c = codes;
  let s = scales;
  for (let rem = n; rem > 0; ) {
    const len = min(rem, block);
    const step = <f64>load<f32>(s) / LEVELS;
    const vs = f64x2.splat(step);
    let i = 0;
    // Four codes → i32x4 → two f64x2 products (exact conversions, one f64 rounding) → f32x4 (one more).
    for (; i + 4 <= len; i += 4) {
      const q = i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(c + <usize>i)));
      const a = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.convert_low_i32x4_s(q), vs));
      const qHigh = v128.shuffle<i32>(q, q, 2, 3, 2, 3);
      const b = f32x4.demote_f64x2_zero(f64x2.mul(f64x2.convert_low_i32x4_s(qHigh), vs));
      v128.store(o + ((<usize>i) << 2), v128.shuffle<f32>(a, b, 0, 1, 4, 5));
    }
    for (; i < len; i++) {
      store<f32>(o + ((<usize>i) << 2), <f32>(<f64>load<i8>(c + <usize>i) * step));
    }
    o += (<usize>len) << 2;
    c += <usize>len;
    s += 4;
    rem -= len;
  }
}
