import { ShapeError } from '../errors.ts';
import type { F32Buffer } from './arena.ts';

/**
 * Argument checks shared by every engine. A WASM kernel handed a too-short buffer would silently read or
 * write its neighbours in the arena, so sizes are checked before any engine touches memory.
 */

function dimension(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0) {
    throw new ShapeError(`${name}: expected a non-negative integer, got ${value}`);
  }
}

function atLeast(kernel: string, name: string, buffer: F32Buffer, elements: number): void {
  if (buffer.length < elements) {
    throw new ShapeError(`${kernel}: ${name} holds ${buffer.length} elements, needs ${elements}`);
  }
}

/** Whether the first `xCount` elements of x and the first `yCount` of y share memory. */
function overlaps(x: F32Buffer, xCount: number, y: F32Buffer, yCount: number): boolean {
  return (
    xCount > 0 &&
    yCount > 0 &&
    x.arena === y.arena &&
    x.byteOffset < y.byteOffset + 4 * yCount &&
    y.byteOffset < x.byteOffset + 4 * xCount
  );
}

export function checkGemm(m: number, n: number, k: number, a: F32Buffer, b: F32Buffer, c: F32Buffer): void {
  dimension('gemm m', m);
  dimension('gemm n', n);
  dimension('gemm k', k);
  atLeast('gemm', 'A', a, m * k);
  atLeast('gemm', 'B', b, k * n);
  atLeast('gemm', 'C', c, m * n);
  if (overlaps(c, m * n, a, m * k) || overlaps(c, m * n, b, k * n))
    throw new ShapeError('gemm: C overlaps A or B');
}

/**
 * Elements a stored rows×cols block with leading dimension ld spans (0 when empty); throws if ld < cols.
 */
function span(kernel: string, name: string, rows: number, cols: number, ld: number): number {
  dimension(`${kernel} ld${name}`, ld);
  if (rows === 0 || cols === 0) return 0;
  if (ld < cols)
    throw new ShapeError(`${kernel}: ld${name} = ${ld} is below the ${cols} stored columns of ${name}`);
  return (rows - 1) * ld + cols;
}

export function checkGemmStrided(
  transA: boolean,
  transB: boolean,
  m: number,
  n: number,
  k: number,
  a: F32Buffer,
  lda: number,
  b: F32Buffer,
  ldb: number,
  c: F32Buffer,
  ldc: number,
): void {
  dimension('gemmStrided m', m);
  dimension('gemmStrided n', n);
  dimension('gemmStrided k', k);
  // Stored shapes: A is k×m when transposed, B is n×k when transposed.
  const spanA = span('gemmStrided', 'A', transA ? k : m, transA ? m : k, lda);
  const spanB = span('gemmStrided', 'B', transB ? n : k, transB ? k : n, ldb);
  const spanC = span('gemmStrided', 'C', m, n, ldc);
  atLeast('gemmStrided', 'A', a, spanA);
  atLeast('gemmStrided', 'B', b, spanB);
  atLeast('gemmStrided', 'C', c, spanC);
  if (overlaps(c, spanC, a, spanA) || overlaps(c, spanC, b, spanB))
    throw new ShapeError('gemmStrided: C overlaps A or B');
}

export function checkSyrk(n: number, k: number, a: F32Buffer, c: F32Buffer): void {
  dimension('syrk n', n);
  dimension('syrk k', k);
  atLeast('syrk', 'A', a, n * k);
  atLeast('syrk', 'C', c, n * n);
  if (overlaps(c, n * n, a, n * k)) throw new ShapeError('syrk: C overlaps A');
}

/** Every buffer in `inputs` holds at least as many elements as `output` (the one whose length is used). */
export function checkElementwise(kernel: string, output: F32Buffer, inputs: Record<string, F32Buffer>): void {
  for (const [name, buffer] of Object.entries(inputs)) atLeast(kernel, name, buffer, output.length);
}

export function checkScale(
  kernel: string,
  rows: number,
  cols: number,
  x: F32Buffer,
  s: F32Buffer,
  sLength: number,
): void {
  dimension(`${kernel} rows`, rows);
  dimension(`${kernel} cols`, cols);
  atLeast(kernel, 'x', x, rows * cols);
  atLeast(kernel, 's', s, sLength);
}
