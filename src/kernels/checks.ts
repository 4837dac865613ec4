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

function overlaps(x: F32Buffer, y: F32Buffer): boolean {
  return (
    x.arena === y.arena &&
    x.byteOffset < y.byteOffset + y.byteLength &&
    y.byteOffset < x.byteOffset + x.byteLength
  );
}

export function checkGemm(m: number, n: number, k: number, a: F32Buffer, b: F32Buffer, c: F32Buffer): void {
  dimension('gemm m', m);
  dimension('gemm n', n);
  dimension('gemm k', k);
  atLeast('gemm', 'A', a, m * k);
  atLeast('gemm', 'B', b, k * n);
  atLeast('gemm', 'C', c, m * n);
  const cUsed = c.slice(0, m * n);
  if (
    (m * k > 0 && overlaps(cUsed, a.slice(0, m * k))) ||
    (k * n > 0 && overlaps(cUsed, b.slice(0, k * n)))
  ) {
    throw new ShapeError('gemm: C overlaps A or B');
  }
}

export function checkSyrk(n: number, k: number, a: F32Buffer, c: F32Buffer): void {
  dimension('syrk n', n);
  dimension('syrk k', k);
  atLeast('syrk', 'A', a, n * k);
  atLeast('syrk', 'C', c, n * n);
  if (n * k > 0 && overlaps(c.slice(0, n * n), a.slice(0, n * k))) throw new ShapeError('syrk: C overlaps A');
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
