/**
 * Float64 replays of the low-bit Shampoo step: the library's own step code (`LowbitShampoo`, generic over its
 * arithmetic) run on plain Float64Arrays instead of the float32 kernels. Only the arithmetic and the state
 * containers below are test code; the algorithm (storage formats, Björck, power step, roots, grafting, AdamW)
 * is the library's. The 4-bit formats use the library's exact quantizer, which rounds its float64 input to
 * float32 as the reference kernel sees it, so a replay reproduces the references' float64 runs
 * (`expectedFloat64`: float64 math, float32 quantizer) to rounding.
 */
import type { ResolvedLowbitConfig } from '../../src/optimizers/shampoo-config.ts';
import type { MomentState, ShampooState } from '../../src/optimizers/shampoo-host.ts';
import { LowbitShampoo } from '../../src/optimizers/shampoo-lowbit.ts';
import type { MatrixArithmetic } from '../../src/preconditioner/matrix-arithmetic.ts';
import { roundToBf16 } from '../../src/storage/bf16.ts';
import { dequantizeBlocks, quant4Layout, quantizeBlocks } from '../../src/storage/quant4.ts';
import type { MatrixFormat, StoredMatrix } from '../../src/storage/stored-matrix.ts';

type F64 = Float64Array;

function finite(x: F64, n = x.length): boolean {
  for (let i = 0; i < n; i++) if (!Number.isFinite(x[i])) return false;
  return true;
}

/**
 * Float64 dense arithmetic in plain loops, with the operations in the order the PyTorch references write
 * them (e.g. `v·β2 + ((1−β2)·g)·g` for `addcmul_`, `sqrt(v)/sqrt(bc2) + ε`), so that rounding differences
 * stay at the level of one float64 ulp per operation.
 */
export class Float64Arithmetic implements MatrixArithmetic<F64> {
  readonly precision = 'float64' as const;

  round(x: number): number {
    return x;
  }

  alloc(length: number): F64 {
    return new Float64Array(length);
  }

  view(m: F64): F64 {
    return m;
  }

  slice(m: F64, start: number, length: number): F64 {
    return m.subarray(start, start + length);
  }

  size(m: F64): number {
    return m.length;
  }

  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: F64,
    b: F64,
    beta: number,
    c: F64,
  ): void {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) {
          const x = transA ? a[p * m + i] : a[i * k + p];
          const y = transB ? b[j * k + p] : b[p * n + j];
          acc += x * y;
        }
        c[i * n + j] = beta === 0 ? alpha * acc : alpha * acc + beta * c[i * n + j];
      }
    }
  }

  syrk(trans: boolean, n: number, k: number, alpha: number, a: F64, beta: number, c: F64): void {
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        let acc = 0;
        for (let p = 0; p < k; p++) {
          acc += trans ? a[p * n + i] * a[p * n + j] : a[i * k + p] * a[j * k + p];
        }
        const v = beta === 0 ? alpha * acc : beta * c[i * n + j] + alpha * acc;
        c[i * n + j] = v;
        c[j * n + i] = v;
      }
    }
  }

  axpby(alpha: number, x: F64, beta: number, y: F64): void {
    for (let i = 0; i < y.length; i++) y[i] = alpha * x[i] + beta * y[i];
  }

  scaleRows(x: F64, rows: number, cols: number, s: F64): void {
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) x[i * cols + j] *= s[i];
  }

  adamMoments(g: F64, m: F64, v: F64, beta1: number, beta2: number): void {
    for (let i = 0; i < m.length; i++) {
      m[i] = m[i] * beta1 + (1 - beta1) * g[i];
      v[i] = v[i] * beta2 + (1 - beta2) * g[i] * g[i];
    }
  }

  adamDirection(m: F64, v: F64, vScale: number, eps: number, out: F64): void {
    // The references divide by sqrt(bias correction); vScale is its reciprocal.
    const bcSqrt = 1 / vScale;
    for (let i = 0; i < out.length; i++) out[i] = m[i] / (Math.sqrt(v[i]) / bcSqrt + eps);
  }

  allFinite(x: F64): boolean {
    return finite(x);
  }

  sumSquares(x: F64): number {
    let acc = 0;
    for (let i = 0; i < x.length; i++) acc += x[i] * x[i];
    return acc;
  }
}

/** A stored matrix in float64: fp32 stays float64 (as in the references' float64 runs), the rest encoded. */
class Float64Matrix implements StoredMatrix<F64> {
  readonly format: MatrixFormat;
  readonly rows: number;
  readonly cols: number;
  readonly state: F64;
  /** 4-bit codes and scales (the reference kernel's float32 semantics). */
  readonly codes: Uint8Array | null = null;
  readonly scales: Float32Array | null = null;
  private readonly blockSize: number;

  constructor(format: MatrixFormat, rows: number, cols: number, blockSize: number) {
    this.format = format;
    this.rows = rows;
    this.cols = cols;
    this.blockSize = blockSize;
    // fp32: the matrix; bf16 formats: the decoded values; 4-bit: the exact diagonal ('4bit-diag').
    this.state = new Float64Array(rows * cols);
    if (format === '4bit' || format === '4bit-diag') {
      const l = quant4Layout(rows, cols, blockSize);
      this.codes = new Uint8Array(l.codeBytes);
      this.scales = new Float32Array(l.scaleCount);
      this.state = new Float64Array(format === '4bit-diag' ? rows : 0);
      // Zero codes and scales decode to 0, as the arena's zero-filled buffers do.
    }
  }

  read(into: F64): F64 {
    const n = this.rows * this.cols;
    switch (this.format) {
      case 'fp32':
        return this.state;
      case 'bf16':
      case 'bf16-diag':
        into.set(this.state.subarray(0, n));
        return into;
      default: {
        const diag = this.format === '4bit-diag';
        dequantizeBlocks(
          this.codes!,
          this.scales!,
          null,
          this.rows,
          this.cols,
          this.blockSize,
          into,
          'linear-2',
        );
        if (diag) for (let i = 0; i < this.rows; i++) into[i * this.cols + i] = this.state[i];
        return into;
      }
    }
  }

  write(x: F64): boolean {
    const n = this.rows * this.cols;
    if (!finite(x, n)) return false;
    switch (this.format) {
      case 'fp32':
        if (x !== this.state) this.state.set(x.subarray(0, n));
        return true;
      case 'bf16':
        for (let i = 0; i < n; i++) this.state[i] = roundToBf16(x[i]);
        return true;
      case 'bf16-diag':
        for (let i = 0; i < n; i++) {
          this.state[i] = i % (this.cols + 1) === 0 ? Math.fround(x[i]) : roundToBf16(x[i]);
        }
        return true;
      default: {
        const diag = this.format === '4bit-diag';
        const input = x.slice(0, n);
        if (diag) {
          for (let i = 0; i < this.rows; i++) {
            this.state[i] = Math.fround(input[i * this.cols + i]);
            input[i * this.cols + i] = 0;
          }
        }
        quantizeBlocks(
          input,
          this.rows,
          this.cols,
          this.blockSize,
          this.codes!,
          this.scales!,
          null,
          'linear-2',
        );
        return true;
      }
    }
  }
}

/** Every stored matrix of a replay, by parameter and name (to compare 4-bit codes with the library's). */
export type Float64Matrices = Map<string, Float64Matrix>;

/** `ShampooState` over Float64Arrays: parameters, moments and fp32-format state all float64. */
export class Float64ShampooState implements ShampooState<F64> {
  readonly arithmetic = new Float64Arithmetic();
  readonly weights: F64[];
  readonly shapes: (readonly number[])[];
  readonly matrices: Float64Matrices = new Map();
  private readonly blockSize: number;
  private readonly names: (string | undefined)[];

  constructor(
    params: readonly { shape: readonly number[]; init: ArrayLike<number>; name?: string }[],
    blockSize: number,
  ) {
    this.weights = params.map((p) => Float64Array.from(p.init));
    this.shapes = params.map((p) => p.shape);
    this.names = params.map((p) => p.name);
    this.blockSize = blockSize;
  }

  matrix(
    param: number,
    name: string,
    _kind: 'factor' | 'root' | 'basis' | 'eigenvalues',
    rows: number,
    cols: number,
    format: MatrixFormat,
  ): StoredMatrix<F64> {
    const m = new Float64Matrix(format, rows, cols, this.blockSize);
    this.matrices.set(`${param}:${name}`, m);
    return m;
  }

  vector(_param: number, _name: string, _kind: string, length: number): F64 {
    return new Float64Array(length);
  }

  counters(_param: number, _name: string, length: number): { view(): Int32Array } {
    const c = new Int32Array(length);
    return { view: () => c };
  }

  moment(_param: number, _name: string, length: number): MomentState<F64> {
    const m = new Float64Array(length);
    return { load: () => m, store: () => finite(m) };
  }

  /** Replays run no step that could need undoing. */
  captureState(): () => void {
    return () => {};
  }

  paramLabel(i: number): string {
    const name = this.names[i];
    return name ? ` ('${name}')` : '';
  }
}

/** The library's low-bit step (`LowbitShampoo`) on a float64 state initialized to `params`. */
export function float64LowbitShampoo(
  params: readonly { shape: readonly number[]; init: ArrayLike<number>; name?: string }[],
  cfg: ResolvedLowbitConfig,
): { state: Float64ShampooState; optimizer: LowbitShampoo<F64> } {
  const state = new Float64ShampooState(params, cfg.quanBlocksize);
  return { state, optimizer: new LowbitShampoo(state, cfg) };
}
