// Shared by the 4-bit and 8-bit block codecs (internal: not exported from the module).

/** Absolute maximum of `len` f32 at `p`, ignoring NaN (pmax keeps the accumulator when the comparison fails). */
export function blockAbsmax(p: usize, len: i32): f32 {
  let acc = f32x4.splat(0);
  let j = 0;
  for (; j + 4 <= len; j += 4) acc = f32x4.pmax(acc, f32x4.abs(v128.load(p + ((<usize>j) << 2))));
  let m = max(
    max(f32x4.extract_lane(acc, 0), f32x4.extract_lane(acc, 1)),
    max(f32x4.extract_lane(acc, 2), f32x4.extract_lane(acc, 3)),
  );
  for (; j < len; j++) {
    const a = abs(load<f32>(p + ((<usize>j) << 2)));
    if (a > m) m = a;
  }
  return m;
}
