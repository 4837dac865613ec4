// Low-precision codecs: 4-bit block-wise quantization (two codebooks, optional exact diagonal) and bfloat16
// encode/decode. Every buffer is a byte offset into the imported memory; nothing here allocates.
//
// The TypeScript versions in src/storage/ are the reference; these kernels reproduce them bit for bit:
// - quantize: per row, per block of `block` columns: absmax (NaN never wins), inv = 1/absmax in f32,
//   q = #{j : x·inv > t_j} over the 15 decision thresholds (equal to the reference binary search with float32
//   midpoints, ties included); an all-zero block stores the code of 0;
// - packing: element 2k in the low nibble of byte k, 2k+1 in the high nibble, over the row-major flattening;
// - dequantize: code[q]·scale in f32.

import { blockAbsmax } from './block-absmax';

// Per codebook (id 0 = linear-2, id 1 = dynamic), 192 bytes written once by the host (src/storage/wasm-codecs.ts):
//   [0, 64)    the 16 f32 codes
//   [64, 128)  the 15 f32 thresholds (and 4 bytes of padding)
//   [128, 192) byte planes: plane k (16 bytes) holds byte k of each code, for table lookups by swizzle
const TABLE_STRIDE: usize = 192;
const TABLES: usize = memory.data(384, 16); // 2 × TABLE_STRIDE

/** Where the host writes the codebook tables (see the layout above). */
export function quant4Tables(): usize {
  return TABLES;
}

/** Scalar index of a normalised value: the number of thresholds it exceeds. */
function indexOf(v: f32, thr: usize): i32 {
  let q = 0;
  for (let j: usize = 0; j < 15; j++) q += <i32>(v > load<f32>(thr + (j << 2)));
  return q;
}

/** Writes index q of flattened element e (low nibble for even e; the even element is always written first). */
function putNibble(codes: usize, e: usize, q: i32): void {
  const p = codes + (e >> 1);
  if ((e & 1) === 0) store<u8>(p, <u8>q);
  else store<u8>(p, load<u8>(p) | ((<u8>q) << 4));
}

/**
 * 4-bit quantization of a rows×cols matrix at `x` into `codes` (⌈rows·cols/2⌉ bytes) and `scales`
 * (rows·⌈cols/block⌉ f32). With `diag` ≠ 0 (square matrices), the diagonal is copied to `diag` and counted as
 * 0: it is zeroed in `x` while its row is processed and restored bit for bit afterwards.
 */
export function quant4Quantize(
  x: usize,
  rows: i32,
  cols: i32,
  block: i32,
  codes: usize,
  scales: usize,
  codebook: i32,
  diag: usize,
): void {
  const thr = TABLES + <usize>codebook * TABLE_STRIDE + 64;
  const zeroQ = indexOf(0, thr);
  const blocksPerRow = (cols + block - 1) / block;
  // With an even row length and block size, every block starts on a byte boundary and has an even length.
  const aligned = (cols & 1) === 0 && (block & 1) === 0;
  const t0 = f32x4.splat(load<f32>(thr, 0));
  const t1 = f32x4.splat(load<f32>(thr, 4));
  const t2 = f32x4.splat(load<f32>(thr, 8));
  const t3 = f32x4.splat(load<f32>(thr, 12));
  const t4 = f32x4.splat(load<f32>(thr, 16));
  const t5 = f32x4.splat(load<f32>(thr, 20));
  const t6 = f32x4.splat(load<f32>(thr, 24));
  const t7 = f32x4.splat(load<f32>(thr, 28));
  const t8 = f32x4.splat(load<f32>(thr, 32));
  const t9 = f32x4.splat(load<f32>(thr, 36));
  const t10 = f32x4.splat(load<f32>(thr, 40));
  const t11 = f32x4.splat(load<f32>(thr, 44));
  const t12 = f32x4.splat(load<f32>(thr, 48));
  const t13 = f32x4.splat(load<f32>(thr, 52));
  const t14 = f32x4.splat(load<f32>(thr, 56));
  for (let r = 0; r < rows; r++) {
    const rowStart = <usize>r * <usize>cols;
    const rowPtr = x + (rowStart << 2);
    let savedDiag: u32 = 0;
    if (diag !== 0) {
      const dp = rowPtr + ((<usize>r) << 2);
      savedDiag = load<u32>(dp);
      store<u32>(diag + ((<usize>r) << 2), savedDiag);
      store<u32>(dp, 0);
    }
    for (let c = 0; c < blocksPerRow; c++) {
      const c0 = c * block;
      const len = min(block, cols - c0);
      const bp = rowPtr + ((<usize>c0) << 2);
      const absmax = blockAbsmax(bp, len);
      store<f32>(scales + ((<usize>r * <usize>blocksPerRow + <usize>c) << 2), absmax);
      const e0 = rowStart + <usize>c0;
      if (absmax === 0) {
        for (let j = 0; j < len; j++) putNibble(codes, e0 + <usize>j, zeroQ);
        continue;
      }
      const inv: f32 = 1 / absmax;
      let j = 0;
      if (aligned) {
        const vinv = f32x4.splat(inv);
        const out = codes + (e0 >> 1);
        for (; j + 16 <= len; j += 16) {
          const p = bp + ((<usize>j) << 2);
          let q0 = i32x4.splat(0);
          let q1 = i32x4.splat(0);
          let q2 = i32x4.splat(0);
          let q3 = i32x4.splat(0);
          const v0 = f32x4.mul(v128.load(p), vinv);
          const v1 = f32x4.mul(v128.load(p, 16), vinv);
          const v2 = f32x4.mul(v128.load(p, 32), vinv);
          const v3 = f32x4.mul(v128.load(p, 48), vinv);
          // q = Σ_j [v > t_j]: each comparison yields −1 in the lanes where it holds.
          q0 = i32x4.sub(q0, f32x4.gt(v0, t0));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t0));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t0));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t0));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t1));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t1));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t1));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t1));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t2));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t2));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t2));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t2));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t3));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t3));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t3));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t3));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t4));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t4));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t4));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t4));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t5));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t5));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t5));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t5));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t6));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t6));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t6));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t6));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t7));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t7));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t7));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t7));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t8));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t8));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t8));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t8));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t9));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t9));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t9));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t9));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t10));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t10));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t10));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t10));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t11));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t11));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t11));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t11));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t12));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t12));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t12));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t12));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t13));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t13));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t13));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t13));
          q0 = i32x4.sub(q0, f32x4.gt(v0, t14));
          q1 = i32x4.sub(q1, f32x4.gt(v1, t14));
          q2 = i32x4.sub(q2, f32x4.gt(v2, t14));
          q3 = i32x4.sub(q3, f32x4.gt(v3, t14));
          // 16 indices → 16 bytes (e_0 … e_15) → 8 bytes e_2k | e_2k+1 << 4.
          const b = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(q0, q1), i16x8.narrow_i32x4_u(q2, q3));
          const pairs = v128.or(
            v128.and(b, i16x8.splat(0x000f)),
            v128.and(i16x8.shr_u(b, 4), i16x8.splat(0x00f0)),
          );
          v128.store64_lane(out + (<usize>j >> 1), i8x16.narrow_i16x8_u(pairs, pairs), 0);
        }
      }
      for (; j < len; j++) {
        const v: f32 = load<f32>(bp + ((<usize>j) << 2)) * inv;
        putNibble(codes, e0 + <usize>j, indexOf(v, thr));
      }
    }
    if (diag !== 0) store<u32>(rowPtr + ((<usize>r) << 2), savedDiag);
  }
}

/**
 * Inverse of `quant4Quantize`: `out[e] = code[q_e]·scale`. With `diag` ≠ 0 the diagonal is then overwritten
 * with the exact values at `diag`.
 */
export function quant4Dequantize(
  codes: usize,
  scales: usize,
  rows: i32,
  cols: i32,
  block: i32,
  codebook: i32,
  diag: usize,
  out: usize,
): void {
  const table = TABLES + <usize>codebook * TABLE_STRIDE;
  const planes = table + 128;
  const p0 = v128.load(planes);
  const p1 = v128.load(planes, 16);
  const p2 = v128.load(planes, 32);
  const p3 = v128.load(planes, 48);
  const low = i8x16.splat(0x0f);
  const blocksPerRow = (cols + block - 1) / block;
  const aligned = (cols & 1) === 0 && (block & 1) === 0;
  for (let r = 0; r < rows; r++) {
    const rowStart = <usize>r * <usize>cols;
    for (let c = 0; c < blocksPerRow; c++) {
      const c0 = c * block;
      const len = min(block, cols - c0);
      const scale = load<f32>(scales + ((<usize>r * <usize>blocksPerRow + <usize>c) << 2));
      const e0 = rowStart + <usize>c0;
      const op = out + (e0 << 2);
      let j = 0;
      if (aligned) {
        const vs = f32x4.splat(scale);
        const src = codes + (e0 >> 1);
        for (; j + 16 <= len; j += 16) {
          const bytes = v128.load64_zero(src + (<usize>j >> 1));
          const lo = v128.and(bytes, low);
          const hi = i8x16.shr_u(bytes, 4);
          const idx = i8x16.shuffle(lo, hi, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
          // Byte k of each element's code, looked up per plane, then interleaved back into f32 lanes.
          const b0 = i8x16.swizzle(p0, idx);
          const b1 = i8x16.swizzle(p1, idx);
          const b2 = i8x16.swizzle(p2, idx);
          const b3 = i8x16.swizzle(p3, idx);
          const w01lo = i8x16.shuffle(b0, b1, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
          const w01hi = i8x16.shuffle(b0, b1, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
          const w23lo = i8x16.shuffle(b2, b3, 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
          const w23hi = i8x16.shuffle(b2, b3, 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
          const f0 = i8x16.shuffle(w01lo, w23lo, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
          const f1 = i8x16.shuffle(
            w01lo,
            w23lo,
            8,
            9,
            24,
            25,
            10,
            11,
            26,
            27,
            12,
            13,
            28,
            29,
            14,
            15,
            30,
            31,
          );
          const f2 = i8x16.shuffle(w01hi, w23hi, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23);
          const f3 = i8x16.shuffle(
            w01hi,
            w23hi,
            8,
            9,
            24,
            25,
            10,
            11,
            26,
            27,
            12,
            13,
            28,
            29,
            14,
            15,
            30,
            31,
          );
          const dst = op + ((<usize>j) << 2);
          v128.store(dst, f32x4.mul(f0, vs));
          v128.store(dst, f32x4.mul(f1, vs), 16);
          v128.store(dst, f32x4.mul(f2, vs), 32);
          v128.store(dst, f32x4.mul(f3, vs), 48);
        }
      }
      for (; j < len; j++) {
        const e = e0 + <usize>j;
        const byte = <u32>load<u8>(codes + (e >> 1));
        const q = (e & 1) === 0 ? byte & 0x0f : byte >> 4;
        store<f32>(op + ((<usize>j) << 2), load<f32>(table + ((<usize>q) << 2)) * scale);
      }
    }
  }
  if (diag !== 0) {
    for (let i = 0; i < rows; i++) {
      store<u32>(out + ((<usize>i * <usize>cols + <usize>i) << 2), load<u32>(diag + ((<usize>i) << 2)));
    }
  }
}

/** bf16 round-to-nearest-even of the f32 bits `b`; NaN → 0x7FC0. */
function bf16Nearest(b: u32): u16 {
  if ((b & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  return <u16>((b + 0x7fff + ((b >> 16) & 1)) >> 16);
}

/** `out[i] = bf16(x[i])` (u16) for n f32 at `x`, round to nearest even. */
export function bf16Encode(n: i32, x: usize, out: usize): void {
  const bias = i32x4.splat(0x7fff);
  const one = i32x4.splat(1);
  const absMask = i32x4.splat(0x7fffffff);
  const inf = i32x4.splat(0x7f800000);
  const qnan = i32x4.splat(0x7fc00000);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = x + ((<usize>i) << 2);
    const a = v128.load(p);
    const b = v128.load(p, 16);
    let ra = i32x4.add(a, i32x4.add(bias, v128.and(i32x4.shr_u(a, 16), one)));
    let rb = i32x4.add(b, i32x4.add(bias, v128.and(i32x4.shr_u(b, 16), one)));
    ra = v128.bitselect(qnan, ra, i32x4.gt_u(v128.and(a, absMask), inf));
    rb = v128.bitselect(qnan, rb, i32x4.gt_u(v128.and(b, absMask), inf));
    // The upper halves of the eight 32-bit lanes are the bf16 values.
    v128.store(
      out + ((<usize>i) << 1),
      i8x16.shuffle(ra, rb, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31),
    );
  }
  for (; i < n; i++) store<u16>(out + ((<usize>i) << 1), bf16Nearest(load<u32>(x + ((<usize>i) << 2))));
}

/** `out[i] = f32(u[i])`: the bf16 bits become the upper half of the f32 (exact). */
export function bf16Decode(n: i32, u: usize, out: usize): void {
  const zero = i32x4.splat(0);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const v = v128.load(u + ((<usize>i) << 1));
    const p = out + ((<usize>i) << 2);
    v128.store(p, i8x16.shuffle(zero, v, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23));
    v128.store(p, i8x16.shuffle(zero, v, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31), 16);
  }
  for (; i < n; i++) store<u32>(out + ((<usize>i) << 2), (<u32>load<u16>(u + ((<usize>i) << 1))) << 16);
}

/** The "lowbias32" hash (xorshift-multiply finalizer), as `hash32` in src/storage/bf16.ts. */
function hash32(v: u32): u32 {
  v ^= v >> 16;
  v *= 0x7feb352d;
  v ^= v >> 15;
  v *= 0x846ca68b;
  v ^= v >> 16;
  return v;
}

/**
 * Stochastic rounding to bf16: element i adds the upper 16 bits of hash32((counter + i) ^ key) to its f32 bits
 * and keeps the upper half; NaN → 0x7FC0. The host advances its counter by n.
 */
export function bf16EncodeStochastic(n: i32, x: usize, out: usize, counter: u32, key: u32): void {
  const absMask = i32x4.splat(0x7fffffff);
  const inf = i32x4.splat(0x7f800000);
  const qnan = i32x4.splat(0x7fc00000);
  const vkey = i32x4.splat(<i32>key);
  const m1 = i32x4.splat(0x7feb352d);
  const m2 = i32x4.splat(0x846ca68b);
  let ctr = i32x4.add(i32x4.splat(<i32>counter), i32x4(0, 1, 2, 3));
  const four = i32x4.splat(4);
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const p = x + ((<usize>i) << 2);
    let ha = v128.xor(ctr, vkey);
    ctr = i32x4.add(ctr, four);
    let hb = v128.xor(ctr, vkey);
    ctr = i32x4.add(ctr, four);
    ha = v128.xor(ha, i32x4.shr_u(ha, 16));
    hb = v128.xor(hb, i32x4.shr_u(hb, 16));
    ha = i32x4.mul(ha, m1);
    hb = i32x4.mul(hb, m1);
    ha = v128.xor(ha, i32x4.shr_u(ha, 15));
    hb = v128.xor(hb, i32x4.shr_u(hb, 15));
    ha = i32x4.mul(ha, m2);
    hb = i32x4.mul(hb, m2);
    ha = v128.xor(ha, i32x4.shr_u(ha, 16));
    hb = v128.xor(hb, i32x4.shr_u(hb, 16));
    const a = v128.load(p);
    const b = v128.load(p, 16);
    let ra = i32x4.add(a, i32x4.shr_u(ha, 16));
    let rb = i32x4.add(b, i32x4.shr_u(hb, 16));
    ra = v128.bitselect(qnan, ra, i32x4.gt_u(v128.and(a, absMask), inf));
    rb = v128.bitselect(qnan, rb, i32x4.gt_u(v128.and(b, absMask), inf));
    v128.store(
      out + ((<usize>i) << 1),
      i8x16.shuffle(ra, rb, 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31),
    );
  }
  for (; i < n; i++) {
    const b = load<u32>(x + ((<usize>i) << 2));
    const r = hash32((counter + <u32>i) ^ key) >> 16;
    store<u16>(out + ((<usize>i) << 1), (b & 0x7fffffff) > 0x7f800000 ? <u16>0x7fc0 : <u16>((b + r) >> 16));
  }
}
