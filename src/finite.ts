/** True when none of the first `n` elements (default: all) is NaN or ±Infinity: x·0 is NaN exactly for those. */
export function isAllFinite(x: ArrayLike<number>, n: number = x.length): boolean {
  let probe = 0;
  for (let i = 0; i < n; i++) probe += x[i] * 0;
  return probe === 0;
}
