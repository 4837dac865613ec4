/**
 * 4-bit block-wise quantization of a row-major matrix, bit-compatible with the 4-bit Shampoo reference kernels.
 *
 * Layout of a rows×cols matrix with block size B:
 * - row r, block c covers columns [cB, min((c+1)B, cols)): blocks never cross rows, so a 66-wide row has a
 *   block of 64 and a block of 2;
 * - one float32 scale per block (the block's absmax) at `scales[r·⌈cols/B⌉ + c]`;
 * - one 4-bit codebook index per element, two per byte over the row-major flattening: element 2k in the low
 *   nibble of byte k, element 2k+1 in the high nibble; ⌈rows·cols/2⌉ bytes (an odd count leaves the last high
 *   nibble 0);
 * - quantize: `q = dQuantize(fround(x · fround(1/absmax)))`, or the index of 0 when absmax = 0;
 * - dequantize: `fround(code[q] · absmax)`.
 *
 * DiagReal (square matrices): the diagonal is kept exactly in a float32 vector and treated as 0 while the scales
 * and codes are computed (as if zeroed), then written back on dequantize.
 *
 * These are the reference implementations: plain loops over typed arrays, no allocation. The WASM kernels must
 * reproduce them bit for bit.
 */
import { ShapeError } from '../errors.ts';
import { type Codebook4Name, codebook4Shared } from './codebooks.ts';

/** The block size of the 4-bit Shampoo reference (`quan_blocksize`). */
export const QUANT4_BLOCK = 64;

export interface Quant4Options {
  /** Default 'linear-2'. */
  codebook?: Codebook4Name;
  /** Contiguous elements of a row per scale. Default 64. */
  blockSize?: number;
}

/** Sizes of the stored parts of a 4-bit rows×cols matrix. */
export interface Quant4Layout {
  rows: number;
  cols: number;
  blockSize: number;
  /** ⌈cols/B⌉ */
  blocksPerRow: number;
  /** rows·⌈cols/B⌉ float32 scales. */
  scaleCount: number;
  /** ⌈rows·cols/2⌉ bytes of packed codes. */
  codeBytes: number;
}

export function quant4Layout(rows: number, cols: number, blockSize = QUANT4_BLOCK): Quant4Layout {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new ShapeError(`quant4: rows and cols must be non-negative integers, got ${rows}×${cols}`);
  }
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new ShapeError(`quant4: blockSize must be a positive integer, got ${blockSize}`);
  }
  const blocksPerRow = Math.ceil(cols / blockSize);
  return {
    rows,
    cols,
    blockSize,
    blocksPerRow,
    scaleCount: rows * blocksPerRow,
    codeBytes: Math.ceil((rows * cols) / 2),
  };
}

/**
 * Bytes held by a rows×cols matrix in 4-bit form: packed codes + float32 scales (+ the float32 diagonal for
 * DiagReal, which needs rows = cols).
 */
export function quant4Bytes(rows: number, cols: number, diagReal = false, blockSize = QUANT4_BLOCK): number {
  const l = quant4Layout(rows, cols, blockSize);
  return l.codeBytes + 4 * l.scaleCount + (diagReal ? 4 * rows : 0);
}

const f = Math.fround;

/**
 * The reference kernel's nearest-code search, literally: a 3-level binary search over the sorted 16-entry
 * codebook from pivot 7, then one comparison with the float32 midpoint of the final pivot and its neighbour on
 * x's side. At an exact midpoint the final pivot wins. NaN → 0.
 */
export function dQuantize(code: Readonly<Float32Array>, x: number): number {
  let pivot = 7;
  let upperPivot = 15;
  let lowerPivot = 0;
  let lower = -1;
  let upper = 1;
  let val = code[pivot];
  for (let step = 4; step > 0; step >>= 1) {
    if (x > val) {
      lowerPivot = pivot;
      lower = val;
      pivot += step;
    } else {
      upperPivot = pivot;
      upper = val;
      pivot -= step;
    }
    val = code[pivot];
  }
  if (upperPivot === 15) upper = code[15];
  if (lowerPivot === 0) lower = code[0];
  if (x > val) return x > f(f(upper + val) * 0.5) ? upperPivot : pivot;
  return x < f(f(lower + val) * 0.5) ? lowerPivot : pivot;
}

type NumArray = { [i: number]: number; readonly length: number };

function checkDims(what: string, rows: number, cols: number, blockSize: number): void {
  if (!Number.isInteger(rows) || rows < 0 || !Number.isInteger(cols) || cols < 0) {
    throw new ShapeError(`${what}: rows and cols must be non-negative integers, got ${rows}×${cols}`);
  }
  if (!Number.isInteger(blockSize) || blockSize < 1) {
    throw new ShapeError(`${what}: blockSize must be a positive integer, got ${blockSize}`);
  }
}

/**
 * Throws a ShapeError when the dimensions are invalid or a buffer is too short for the layout (`diag` null for
 * the plain format). Allocates nothing, so the codecs can call it on every step.
 */
export function checkQuant4Buffers(
  what: string,
  rows: number,
  cols: number,
  blockSize: number,
  values: number,
  codes: number,
  scales: number,
  diag: number | null,
): void {
  checkDims(what, rows, cols, blockSize);
  const need = rows * cols;
  const codeBytes = Math.ceil(need / 2);
  const scaleCount = rows * Math.ceil(cols / blockSize);
  if (values < need) throw new ShapeError(`${what}: matrix buffer has ${values} elements, needs ${need}`);
  if (codes < codeBytes) throw new ShapeError(`${what}: codes buffer has ${codes} bytes, needs ${codeBytes}`);
  if (scales < scaleCount) {
    throw new ShapeError(`${what}: scales buffer has ${scales} elements, needs ${scaleCount}`);
  }
  if (diag !== null) {
    if (rows !== cols) throw new ShapeError(`${what}: DiagReal needs a square matrix, got ${rows}×${cols}`);
    if (diag < rows) throw new ShapeError(`${what}: diagonal buffer has ${diag} elements, needs ${rows}`);
  }
}

/**
 * The quantizer behind every entry point (checks included): `diag` null = plain, else DiagReal (square).
 * `x` may be a Float64Array: each element is rounded to float32 first, as the reference kernel sees it.
 */
export function quantizeBlocks(
  x: Readonly<NumArray>,
  rows: number,
  cols: number,
  blockSize: number,
  codes: Uint8Array,
  scales: Float32Array,
  diag: Float32Array | null,
  codebook: Codebook4Name,
): void {
  checkQuant4Buffers(
    'quantize4',
    rows,
    cols,
    blockSize,
    x.length,
    codes.length,
    scales.length,
    diag?.length ?? null,
  );
  const code = codebook4Shared(codebook);
  const blocksPerRow = Math.ceil(cols / blockSize);
  for (let r = 0; r < rows; r++) {
    const rowStart = r * cols;
    for (let c = 0; c < blocksPerRow; c++) {
      const c0 = c * blockSize;
      const c1 = Math.min(c0 + blockSize, cols);
      let absmax = 0;
      for (let j = c0; j < c1; j++) {
        if (diag !== null && j === r) continue;
        const a = Math.abs(f(x[rowStart + j]));
        if (a > absmax) absmax = a; // NaN never wins, so a NaN element cannot poison the scale
      }
      scales[r * blocksPerRow + c] = absmax;
      const inv = absmax === 0 ? 0 : f(1 / absmax);
      for (let j = c0; j < c1; j++) {
        // The reference zeroes the diagonal and then runs the same arithmetic (0·inv is NaN if inv overflowed).
        const v = diag !== null && j === r ? 0 : f(x[rowStart + j]);
        const normed = absmax === 0 ? 0 : f(v * inv);
        const q = dQuantize(code, normed);
        const e = rowStart + j;
        const byte = e >> 1;
        if ((e & 1) === 0) codes[byte] = q;
        else codes[byte] |= q << 4;
      }
    }
    if (diag !== null) diag[r] = f(x[rowStart + r]);
  }
}

/** The dequantizer behind every entry point (checks included): `diag` non-null restores the exact diagonal. */
export function dequantizeBlocks(
  codes: Uint8Array,
  scales: Float32Array,
  diag: Float32Array | null,
  rows: number,
  cols: number,
  blockSize: number,
  out: NumArray,
  codebook: Codebook4Name,
): void {
  checkQuant4Buffers(
    'dequantize4',
    rows,
    cols,
    blockSize,
    out.length,
    codes.length,
    scales.length,
    diag?.length ?? null,
  );
  const code = codebook4Shared(codebook);
  const blocksPerRow = Math.ceil(cols / blockSize);
  for (let r = 0; r < rows; r++) {
    const rowStart = r * cols;
    for (let j = 0; j < cols; j++) {
      const e = rowStart + j;
      const byte = codes[e >> 1];
      const q = (e & 1) === 0 ? byte & 0x0f : byte >> 4;
      out[e] = f(code[q] * scales[r * blocksPerRow + Math.floor(j / blockSize)]);
    }
  }
  if (diag !== null) for (let i = 0; i < rows; i++) out[i * cols + i] = diag[i];
}

/** Quantizes a row-major rows×cols matrix into `codes` (⌈rows·cols/2⌉ bytes) and `scales` (rows·⌈cols/B⌉). */
export function quantize4(
  x: Readonly<NumArray>,
  rows: number,
  cols: number,
  codes: Uint8Array,
  scales: Float32Array,
  options: Quant4Options = {},
): void {
  const { codebook = 'linear-2', blockSize = QUANT4_BLOCK } = options;
  quantizeBlocks(x, rows, cols, blockSize, codes, scales, null, codebook);
}

/** Inverse of `quantize4`: `out[e] = fround(code[q_e] · scale of e's block)`. */
export function dequantize4(
  codes: Uint8Array,
  scales: Float32Array,
  rows: number,
  cols: number,
  out: NumArray,
  options: Quant4Options = {},
): void {
  const { codebook = 'linear-2', blockSize = QUANT4_BLOCK } = options;
  dequantizeBlocks(codes, scales, null, rows, cols, blockSize, out, codebook);
}

/**
 * DiagReal quantization of an n×n matrix: `diag` receives the exact diagonal; the rest is quantized with the
 * diagonal counted as 0 (it neither sets a scale nor stores anything but the code of 0).
 */
export function quantize4DiagReal(
  x: Readonly<NumArray>,
  n: number,
  codes: Uint8Array,
  scales: Float32Array,
  diag: Float32Array,
  options: Quant4Options = {},
): void {
  const { codebook = 'linear-2', blockSize = QUANT4_BLOCK } = options;
  quantizeBlocks(x, n, n, blockSize, codes, scales, diag, codebook);
}

/** Inverse of `quantize4DiagReal`: dequantize, then restore the exact diagonal. */
export function dequantize4DiagReal(
  codes: Uint8Array,
  scales: Float32Array,
  diag: Float32Array,
  n: number,
  out: NumArray,
  options: Quant4Options = {},
): void {
  const { codebook = 'linear-2', blockSize = QUANT4_BLOCK } = options;
  dequantizeBlocks(codes, scales, diag, n, n, blockSize, out, codebook);
}
