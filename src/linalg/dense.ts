import { NonFiniteError } from '../errors.ts';

/**
 * A float64 copy of the first `count` entries of any numeric array, checked for NaN and ±Infinity. The kernels
 * take Float64Array only, so that V8 compiles each of them for one array type.
 */
export function finiteCopy(a: ArrayLike<number>, count: number, who: string): Float64Array {
  if (a.length < count) throw new RangeError(`${who}: input has ${a.length} entries, needs ${count}`);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    const x = a[i];
    if (!Number.isFinite(x)) throw new NonFiniteError(`${who}: non-finite entry at index ${i}`);
    out[i] = x;
  }
  return out;
}

/** Copies the first `count` entries of a into out (a float64 array), checking each for NaN and ±Infinity. */
export function copyFinite(
  a: ArrayLike<number>,
  count: number,
  who: string,
  out: Float64Array,
): Float64Array {
  if (a.length < count) throw new RangeError(`${who}: input has ${a.length} entries, needs ${count}`);
  for (let i = 0; i < count; i++) {
    const x = a[i];
    if (!Number.isFinite(x)) throw new NonFiniteError(`${who}: non-finite entry at index ${i}`);
    out[i] = x;
  }
  return out;
}

/** The caller's output buffer if it is large enough, else a new one. */
export function outputBuffer(out: Float64Array | undefined, count: number, who: string): Float64Array {
  if (out === undefined) return new Float64Array(count);
  if (out.length < count) throw new RangeError(`${who}: output has ${out.length} entries, needs ${count}`);
  return out;
}
