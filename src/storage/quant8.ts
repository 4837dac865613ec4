/**
 * Block-wise 8-bit linear quantization of a vector: blocks of B consecutive elements, an fp32 absmax scale per
 * block, and per element the signed integer q = round(127·x/scale) in [−127, 127] (ties away from zero), stored
 * as a two's-complement byte. It decodes as `fround(q·(scale/127))`. Used for the correlation triangle of the
 * '4bit' stores when `correlationBits` is 8: its values are re-quantized at every step, and the 4-bit
 * linear-square codes (steps of up to a quarter of the block's largest value) lose too much of them
 * (docs/storage.md §5.3).
 */
import { ShapeError } from '../errors.ts';

/** Largest code magnitude. */
const LEVELS = 127;

/** Scales needed for n elements in blocks of `blockSize`. */
export function quant8ScaleCount(n: number, blockSize: number): number {
  return Math.ceil(n / blockSize);
}

/** The size checks of `quantize8`/`dequantize8` (`values` is the length of x or out), shared with the WASM codecs. */
export function checkQuant8Buffers(
  what: string,
  n: number,
  blockSize: number,
  values: number,
  codes: number,
  scales: number,
): void {
  if (!Number.isInteger(n) || n < 0)
    throw new ShapeError(`${what}: n must be a non-negative integer, got ${n}`);
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new ShapeError(`${what}: blockSize must be a positive integer, got ${blockSize}`);
  }
  if (values < n) throw new ShapeError(`${what}: value buffer has ${values} elements, needs ${n}`);
  if (codes < n) throw new ShapeError(`${what}: codes buffer has ${codes} bytes, needs ${n}`);
  const need = quant8ScaleCount(n, blockSize);
  if (scales < need) throw new ShapeError(`${what}: scales buffer has ${scales} elements, needs ${need}`);
}

/** Quantizes x[0 … n) into `codes` (n bytes) and `scales` (⌈n/B⌉). A NaN element is stored as 0. */
export function quantize8(
  x: Float32Array,
  n: number,
  codes: Uint8Array,
  scales: Float32Array,
  blockSize: number,
): void {
  checkQuant8Buffers('quantize8', n, blockSize, x.length, codes.length, scales.length);
  for (let b = 0, s = 0; b < n; b += blockSize, s++) {
    const end = Math.min(b + blockSize, n);
    let absmax = 0;
    for (let i = b; i < end; i++) {
      const a = Math.abs(x[i]);
      if (a > absmax) absmax = a; // NaN never wins
    }
    scales[s] = absmax;
    const toCode = absmax === 0 || absmax === Number.POSITIVE_INFINITY ? 0 : LEVELS / absmax;
    for (let i = b; i < end; i++) {
      const u = x[i] * toCode;
      // Ties away from zero; |u| ≤ 127 up to rounding, hence the clamp. NaN·… is NaN and stores 0.
      const q = u >= 0 ? Math.min(LEVELS, Math.floor(u + 0.5)) : Math.max(-LEVELS, -Math.floor(0.5 - u));
      codes[i] = Number.isNaN(q) ? 0 : q & 0xff;
    }
  }
}

/** Inverse of `quantize8`: `out[i] = fround(q_i·(scale/127))`, the division in float64. */
export function dequantize8(
  codes: Uint8Array,
  scales: Float32Array,
  n: number,
  out: Float32Array,
  blockSize: number,
): void {
  checkQuant8Buffers('dequantize8', n, blockSize, out.length, codes.length, scales.length);
  for (let b = 0, s = 0; b < n; b += blockSize, s++) {
    const end = Math.min(b + blockSize, n);
    const step = scales[s] / LEVELS;
    for (let i = b; i < end; i++) out[i] = ((codes[i] << 24) >> 24) * step;
  }
}
