/**
 * bfloat16 emulation: a bf16 value is the upper 16 bits of a float32, stored in a `Uint16Array`.
 *
 * - Encode rounds to nearest, ties to even: `(b + 0x7FFF + ((b >> 16) & 1)) >>> 16` on the float32 bits b.
 *   Values past the largest bf16 round to ±Infinity; subnormals round like any other value; ±0 stay ±0.
 *   Every NaN becomes the quiet NaN 0x7FC0 (a payload could otherwise round into an infinity).
 * - Decode is exact: `bits = u16 << 16`.
 * - Stochastic rounding adds a uniform 16-bit integer to the low half before truncating, so a value rounds
 *   away from zero with probability (its discarded bits)/2^16 and the rounding is unbiased. The randomness is
 *   a counter-based hash, so a run is reproducible from the caller's state and the WASM kernels can
 *   reproduce it lane by lane.
 */
import { ShapeError } from '../errors.ts';

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** The bf16 bits nearest to `x` (after rounding x to float32), ties to even. */
export function f32ToBf16(x: number): number {
  scratchF32[0] = x;
  return bitsToBf16(scratchU32[0]);
}

/** The float32 value of bf16 bits `u` (exact). */
export function bf16ToF32(u: number): number {
  scratchU32[0] = (u & 0xffff) << 16;
  return scratchF32[0];
}

/** Round-to-nearest-even of float32 bits (an unsigned 32-bit integer) to bf16 bits. */
export function bitsToBf16(b: number): number {
  if ((b & 0x7fffffff) >>> 0 > 0x7f800000) return 0x7fc0;
  return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
}

/** `x` rounded to the nearest bf16 value, as a number (what storing and reloading x in bf16 gives). */
export function roundToBf16(x: number): number {
  return bf16ToF32(f32ToBf16(x));
}

function u32View(x: Float32Array): Uint32Array {
  return new Uint32Array(x.buffer, x.byteOffset, x.length);
}

function checkCount(what: string, n: number, dst: number): void {
  if (dst < n) throw new ShapeError(`${what}: destination has ${dst} elements, needs ${n}`);
}

/** `dst[i] = bf16(bits[at + i])` for i < n, round to nearest even; `bits` holds float32 bit patterns. */
export function encodeBf16Bits(bits: Uint32Array, at: number, n: number, dst: Uint16Array): void {
  checkCount('encodeBf16', n, dst.length);
  for (let i = 0; i < n; i++) {
    const b = bits[at + i];
    dst[i] = (b & 0x7fffffff) > 0x7f800000 ? 0x7fc0 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
  }
}

/** `bits[at + i] = src[i] << 16` for every element of src (exact decode into float32 bit patterns). */
export function decodeBf16Bits(src: Uint16Array, bits: Uint32Array, at: number): void {
  checkCount('decodeBf16', src.length, bits.length - at);
  for (let i = 0; i < src.length; i++) bits[at + i] = src[i] << 16;
}

/** `dst[i] = bf16(src[i])` for every element of src, round to nearest even. */
export function encodeBf16(src: Float32Array, dst: Uint16Array): void {
  encodeBf16Bits(u32View(src), 0, src.length, dst);
}

/** `dst[i] = float32(src[i])` for every element of src (exact). */
export function decodeBf16(src: Uint16Array, dst: Float32Array): void {
  decodeBf16Bits(src, u32View(dst), 0);
}

/**
 * Deterministic randomness for stochastic rounding. Element i of a call draws from
 * `hash32((counter + i) ^ key)`; the call then advances `counter` by the element count (mod 2^32), so
 * consecutive calls never reuse a draw until 2^32 elements have been rounded. Both fields are unsigned 32-bit
 * integers; keep the object in the optimizer state to make a run reproducible.
 */
export interface StochasticRoundingState {
  counter: number;
  key: number;
}

/** A well-mixed 32-bit hash of a 32-bit integer (the "lowbias32" xorshift-multiply finalizer). */
export function hash32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Stochastic rounding of float32 bits `b` with the 16 random bits `r` (0…0xFFFF). NaN → 0x7FC0. */
export function bitsToBf16Stochastic(b: number, r: number): number {
  if ((b & 0x7fffffff) >>> 0 > 0x7f800000) return 0x7fc0;
  return ((b + r) >>> 16) & 0xffff;
}

/** Stochastic rounding of the float32 bit patterns `bits[at + i]`, i < n, into dst; advances `state.counter`. */
export function encodeBf16BitsStochastic(
  bits: Uint32Array,
  at: number,
  n: number,
  dst: Uint16Array,
  state: StochasticRoundingState,
): void {
  checkCount('encodeBf16Stochastic', n, dst.length);
  const counter = state.counter >>> 0;
  const key = state.key >>> 0;
  for (let i = 0; i < n; i++) {
    const r = hash32(((counter + i) ^ key) >>> 0) >>> 16;
    dst[i] = bitsToBf16Stochastic(bits[at + i], r);
  }
  state.counter = (counter + n) >>> 0;
}

/** `dst[i] = bf16 stochastic rounding of src[i]`; advances `state.counter` by src.length. */
export function encodeBf16Stochastic(
  src: Float32Array,
  dst: Uint16Array,
  state: StochasticRoundingState,
): void {
  encodeBf16BitsStochastic(u32View(src), 0, src.length, dst, state);
}
