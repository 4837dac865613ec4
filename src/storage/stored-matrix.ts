/**
 * One matrix of optimizer state held in a storage format, read and written as a whole: how Shampoo keeps its
 * factors, eigenvectors and inverse roots (docs/storage.md, Shampoo section). The formats:
 *
 * - 'fp32': the state buffer itself (`read` hands it out for in-place updates; no copy);
 * - 'bf16': every element bf16 (`name`, u16);
 * - 'bf16-diag': the diagonal exactly in fp32 (`name_diag`) and the rest in bf16 (`name_offdiag`, a full
 *   square with zeros on the diagonal): the bf16 analogue of DiagReal, for inverse roots, whose diagonal
 *   dominates;
 * - '4bit': block-wise 4-bit codes and fp32 absmax scales (`name_codes`, `name_scales`; src/storage/quant4.ts);
 * - '4bit-diag': DiagReal, the same plus the exact fp32 diagonal (`name_diag`), for inverse roots and the
 *   naive 4-bit factors, as the 4-bit Shampoo paper stores them.
 *
 * A value that is not finite is never stored: `write` checks first and returns false, leaving the state as it
 * was. This file has the float32 implementations over arena buffers (the codecs run on the WASM engine when
 * the kernels do); the float64 test replays implement the same interface on plain arrays.
 */
import type { F32Buffer, Kernels } from '../kernels/index.ts';
import type { Bf16Writer } from './bf16-writer.ts';
import type { U8Buffer, U16Buffer } from './codecs.ts';
import { quant4Layout } from './quant4.ts';
import type { StateAllocator } from './store-context.ts';

export type MatrixFormat = 'fp32' | 'bf16' | 'bf16-diag' | '4bit' | '4bit-diag';

/** How a bf16 value is rounded: to nearest even, or as an average (stochastic rounding when enabled). */
export type Bf16Rounding = 'nearest' | 'average';

export interface StoredMatrix<M> {
  readonly format: MatrixFormat;
  readonly rows: number;
  readonly cols: number;
  /**
   * The matrix as real numbers: for 'fp32' the state buffer itself (a caller may update it in place and then
   * `write` it back, which stores nothing more); otherwise decoded into `into` (rows·cols elements), which is
   * returned.
   */
  read(into: M): M;
  /** Stores x (rows·cols elements; x is not modified). False, and nothing stored, if x is not all finite. */
  write(x: M, rounding?: Bf16Rounding): boolean;
}

/** What the float32 stored matrices share: the kernels (finiteness checks) and the codecs. */
export interface StoredMatrixContext {
  kernels: Kernels;
  /** The bf16 writer and, through it, the codecs (created on first use). */
  writer(): Bf16Writer;
  quanBlocksize: number;
}

/**
 * A rows×cols matrix in `format`, its state registered through `alloc` under `name` (plus the suffixes above).
 * Every state buffer starts zero-filled, which all formats decode as the zero matrix.
 */
export function createStoredMatrix(
  format: MatrixFormat,
  name: string,
  kind: 'factor' | 'root' | 'basis' | 'eigenvalues',
  rows: number,
  cols: number,
  alloc: StateAllocator,
  ctx: StoredMatrixContext,
): StoredMatrix<F32Buffer> {
  switch (format) {
    case 'fp32':
      return new Fp32Matrix(rows, cols, alloc(name, kind, 'f32', rows * cols), ctx);
    case 'bf16':
      return new Bf16Matrix(rows, cols, alloc(name, kind, 'u16', rows * cols), ctx);
    case 'bf16-diag':
      return new Bf16DiagMatrix(
        rows,
        alloc(`${name}_diag`, kind, 'f32', rows),
        alloc(`${name}_offdiag`, kind, 'u16', rows * rows),
        ctx,
      );
    case '4bit':
    case '4bit-diag': {
      const l = quant4Layout(rows, cols, ctx.quanBlocksize);
      return new Quant4Matrix(
        rows,
        cols,
        alloc(`${name}_codes`, kind, 'u8', l.codeBytes),
        alloc(`${name}_scales`, 'scales', 'f32', l.scaleCount),
        format === '4bit-diag' ? alloc(`${name}_diag`, kind, 'f32', rows) : null,
        ctx,
      );
    }
  }
}

class Fp32Matrix implements StoredMatrix<F32Buffer> {
  readonly format = 'fp32' as const;
  readonly rows: number;
  readonly cols: number;
  private readonly state: F32Buffer;
  private readonly ctx: StoredMatrixContext;

  constructor(rows: number, cols: number, state: F32Buffer, ctx: StoredMatrixContext) {
    this.rows = rows;
    this.cols = cols;
    this.state = state;
    this.ctx = ctx;
  }

  read(): F32Buffer {
    return this.state;
  }

  write(x: F32Buffer): boolean {
    if (x.byteOffset === this.state.byteOffset && x.arena === this.state.arena) return true;
    const n = this.rows * this.cols;
    const src = x.slice(0, n);
    if (!this.ctx.kernels.allFinite(src)) return false;
    this.state.view().set(src.view());
    return true;
  }
}

class Bf16Matrix implements StoredMatrix<F32Buffer> {
  readonly format = 'bf16' as const;
  readonly rows: number;
  readonly cols: number;
  private readonly state: U16Buffer;
  private readonly ctx: StoredMatrixContext;

  constructor(rows: number, cols: number, state: U16Buffer, ctx: StoredMatrixContext) {
    this.rows = rows;
    this.cols = cols;
    this.state = state;
    this.ctx = ctx;
  }

  read(into: F32Buffer): F32Buffer {
    this.ctx.writer().decode(this.state, into);
    return into;
  }

  write(x: F32Buffer, rounding: Bf16Rounding = 'nearest'): boolean {
    const src = x.slice(0, this.rows * this.cols);
    if (!this.ctx.kernels.allFinite(src)) return false;
    if (rounding === 'average') this.ctx.writer().average(src, this.state);
    else this.ctx.writer().nearest(src, this.state);
    return true;
  }
}

class Bf16DiagMatrix implements StoredMatrix<F32Buffer> {
  readonly format = 'bf16-diag' as const;
  readonly rows: number;
  readonly cols: number;
  private readonly diag: F32Buffer;
  private readonly offdiag: U16Buffer;
  private readonly ctx: StoredMatrixContext;

  constructor(n: number, diag: F32Buffer, offdiag: U16Buffer, ctx: StoredMatrixContext) {
    this.rows = n;
    this.cols = n;
    this.diag = diag;
    this.offdiag = offdiag;
    this.ctx = ctx;
  }

  read(into: F32Buffer): F32Buffer {
    const n = this.rows;
    this.ctx.writer().decode(this.offdiag, into);
    const v = into.view();
    const d = this.diag.view();
    for (let i = 0; i < n; i++) v[i * n + i] = d[i];
    return into;
  }

  write(x: F32Buffer, rounding: Bf16Rounding = 'nearest'): boolean {
    const n = this.rows;
    const src = x.slice(0, n * n);
    if (!this.ctx.kernels.allFinite(src)) return false;
    // The diagonal goes to fp32 and is encoded as 0 (restored in x afterwards: x is not modified).
    const v = src.view();
    const d = this.diag.view();
    for (let i = 0; i < n; i++) {
      d[i] = v[i * n + i];
      v[i * n + i] = 0;
    }
    if (rounding === 'average') this.ctx.writer().average(src, this.offdiag);
    else this.ctx.writer().nearest(src, this.offdiag);
    const w = src.view();
    for (let i = 0; i < n; i++) w[i * n + i] = d[i];
    return true;
  }
}

class Quant4Matrix implements StoredMatrix<F32Buffer> {
  readonly format: '4bit' | '4bit-diag';
  readonly rows: number;
  readonly cols: number;
  private readonly codes: U8Buffer;
  private readonly scales: F32Buffer;
  private readonly diag: F32Buffer | null;
  private readonly ctx: StoredMatrixContext;

  constructor(
    rows: number,
    cols: number,
    codes: U8Buffer,
    scales: F32Buffer,
    diag: F32Buffer | null,
    ctx: StoredMatrixContext,
  ) {
    this.format = diag ? '4bit-diag' : '4bit';
    this.rows = rows;
    this.cols = cols;
    this.codes = codes;
    this.scales = scales;
    this.diag = diag;
    this.ctx = ctx;
  }

  read(into: F32Buffer): F32Buffer {
    const { codecs } = this.ctx.writer();
    const b = this.ctx.quanBlocksize;
    if (this.diag)
      codecs.dequantize4DiagReal(this.codes, this.scales, this.diag, this.rows, into, 'linear-2', b);
    else codecs.dequantize4(this.codes, this.scales, this.rows, this.cols, into, 'linear-2', b);
    return into;
  }

  write(x: F32Buffer): boolean {
    if (!this.ctx.kernels.allFinite(x.slice(0, this.rows * this.cols))) return false;
    const { codecs } = this.ctx.writer();
    const b = this.ctx.quanBlocksize;
    if (this.diag) codecs.quantize4DiagReal(x, this.rows, this.codes, this.scales, this.diag, 'linear-2', b);
    else codecs.quantize4(x, this.rows, this.cols, this.codes, this.scales, 'linear-2', b);
    return true;
  }
}
