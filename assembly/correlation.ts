// One EMA step of the 4-bit correlation triangle (src/storage/correlation-triangle.ts) over its fp32 values,
// already dequantized. The TypeScript loop in src/storage/correlation-ema.ts is the reference and this kernel
// reproduces it bit for bit: each element goes through the same IEEE f64 operations in the same order, then
// one rounding to f32. WASM never contracts a·b + c into a fused multiply-add, and the relaxed-SIMD build
// compiles this file unchanged (no relaxed instruction is used), so both builds give the reference's bits.

/**
 * For the strict upper triangle of a d×d factor, row by row (`values` holds d(d−1)/2 f32, pair (i, j) of row
 * i contiguous in j, as is row i of the row-major d×d f32 `inc`):
 *   o = (c·(β·rootOld[i]))·rootOld[j] + w·inc[i·d + j];  den = rootNew[i]·rootNew[j];
 *   c ← f32(den > 0 ? o/den : 0)
 * `rootOld` and `rootNew` are d f64 each. Only the strict upper triangle of `inc` is read.
 */
export function correlationEma(
  values: usize,
  inc: usize,
  d: i32,
  rootOld: usize,
  rootNew: usize,
  beta: f64,
  weight: f64,
): void {
  const zero = f64x2.splat(0);
  const w = f64x2.splat(weight);
  const rowBytes = (<usize>d) << 2;
  let t = values;
  for (let i = 0; i < d; i++) {
    const ro = beta * load<f64>(rootOld + ((<usize>i) << 3));
    const rn = load<f64>(rootNew + ((<usize>i) << 3));
    const vro = f64x2.splat(ro);
    const vrn = f64x2.splat(rn);
    const row = inc + <usize>i * rowBytes;
    let j = i + 1;
    // Four pairs at a time: two f64x2 halves, each the scalar expression lane by lane.
    for (; j + 4 <= d; j += 4) {
      const pj = (<usize>j) << 2;
      const qj = (<usize>j) << 3;
      const c4 = v128.load(t);
      const a4 = v128.load(row + pj);
      const cLo = f64x2.promote_low_f32x4(c4);
      const cHi = f64x2.promote_low_f32x4(v128.shuffle<f32>(c4, c4, 2, 3, 2, 3));
      const aLo = f64x2.promote_low_f32x4(a4);
      const aHi = f64x2.promote_low_f32x4(v128.shuffle<f32>(a4, a4, 2, 3, 2, 3));
      const oLo = f64x2.add(f64x2.mul(f64x2.mul(cLo, vro), v128.load(rootOld + qj)), f64x2.mul(w, aLo));
      const oHi = f64x2.add(f64x2.mul(f64x2.mul(cHi, vro), v128.load(rootOld + qj, 16)), f64x2.mul(w, aHi));
      const dLo = f64x2.mul(vrn, v128.load(rootNew + qj));
      const dHi = f64x2.mul(vrn, v128.load(rootNew + qj, 16));
      // den ≤ 0 or NaN selects +0 (o/den is computed and discarded: float division never traps).
      const rLo = v128.bitselect(f64x2.div(oLo, dLo), zero, f64x2.gt(dLo, zero));
      const rHi = v128.bitselect(f64x2.div(oHi, dHi), zero, f64x2.gt(dHi, zero));
      const r = v128.shuffle<f32>(f32x4.demote_f64x2_zero(rLo), f32x4.demote_f64x2_zero(rHi), 0, 1, 4, 5);
      v128.store(t, r);
      t += 16;
    }
    for (; j < d; j++) {
      const o =
        <f64>load<f32>(t) * ro * load<f64>(rootOld + ((<usize>j) << 3)) +
        weight * <f64>load<f32>(row + ((<usize>j) << 2));
      const den = rn * load<f64>(rootNew + ((<usize>j) << 3));
      store<f32>(t, <f32>(den > 0 ? o / den : 0));
      t += 4;
    }
  }
}
