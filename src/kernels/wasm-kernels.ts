import { EngineError } from '../errors.ts';
import type { Arena, ArenaBuffer, F32Buffer } from './arena.ts';
import { checkElementwise, checkGemm, checkGemmStrided, checkScale, checkSyrk } from './checks.ts';
import type { Kernels, WasmEngineName, WasmHandle } from './types.ts';
import type { KernelExports } from './wasm-module.ts';

/**
 * The kernels of one WebAssembly instance whose memory is the arena's memory. A buffer is passed to the
 * module as its byte offset, so nothing is copied and memory growth between calls is harmless (offsets stay
 * valid; only JavaScript views need re-creating, which `ArenaBuffer.view()` does).
 *
 * The packing scratch of GEMM/SYRK is allocated from the arena when the object is built, before any user
 * buffer, and is never released.
 */
export class WasmKernels implements Kernels {
  readonly engine: WasmEngineName;
  readonly arena: Arena;
  readonly wasm: WasmHandle;
  private readonly fn: KernelExports;
  private readonly scratch: number;

  constructor(engine: WasmEngineName, instance: WebAssembly.Instance, arena: Arena) {
    this.engine = engine;
    this.arena = arena;
    this.wasm = { engine, instance, exports: instance.exports };
    this.fn = instance.exports as unknown as KernelExports;
    this.scratch = arena.alloc('u8', this.fn.gemmScratchBytes()).byteOffset;
  }

  /** The byte offset of a buffer, after checking that it lives in this instance's memory. */
  private at(buffer: ArenaBuffer): number {
    if (buffer.arena !== this.arena) {
      throw new EngineError(`${this.engine}: a buffer from another compute context was passed to a kernel`);
    }
    return buffer.byteOffset;
  }

  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: F32Buffer,
    b: F32Buffer,
    beta: number,
    c: F32Buffer,
  ): void {
    checkGemm(m, n, k, a, b, c);
    const pa = this.at(a);
    const pb = this.at(b);
    const pc = this.at(c);
    this.fn.gemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, pa, pb, beta, pc, this.scratch);
  }

  gemmStrided(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    alpha: number,
    a: F32Buffer,
    lda: number,
    b: F32Buffer,
    ldb: number,
    beta: number,
    c: F32Buffer,
    ldc: number,
  ): void {
    checkGemmStrided(transA, transB, m, n, k, a, lda, b, ldb, c, ldc);
    const pa = this.at(a);
    const pb = this.at(b);
    const pc = this.at(c);
    this.fn.gemmStrided(
      transA ? 1 : 0,
      transB ? 1 : 0,
      m,
      n,
      k,
      alpha,
      pa,
      lda,
      pb,
      ldb,
      beta,
      pc,
      ldc,
      this.scratch,
    );
  }

  syrk(trans: boolean, n: number, k: number, alpha: number, a: F32Buffer, beta: number, c: F32Buffer): void {
    checkSyrk(n, k, a, c);
    this.fn.syrk(trans ? 1 : 0, n, k, alpha, this.at(a), beta, this.at(c), this.scratch);
  }

  axpby(alpha: number, x: F32Buffer, beta: number, y: F32Buffer): void {
    checkElementwise('axpby', y, { x });
    this.fn.axpby(y.length, alpha, this.at(x), beta, this.at(y));
  }

  emaSquare(beta: number, y: F32Buffer, alpha: number, x: F32Buffer): void {
    checkElementwise('emaSquare', y, { x });
    this.fn.emaSquare(y.length, beta, this.at(y), alpha, this.at(x));
  }

  adamMoments(g: F32Buffer, m: F32Buffer, v: F32Buffer, beta1: number, beta2: number): void {
    checkElementwise('adamMoments', m, { g, v });
    this.fn.adamMoments(m.length, this.at(g), this.at(m), this.at(v), beta1, 1 - beta1, beta2, 1 - beta2);
  }

  adamDirection(m: F32Buffer, v: F32Buffer, vScale: number, eps: number, out: F32Buffer): void {
    checkElementwise('adamDirection', out, { m, v });
    this.fn.adamDirection(out.length, this.at(m), this.at(v), vScale, eps, this.at(out));
  }

  sumSquares(x: F32Buffer): number {
    return this.fn.sumSquares(x.length, this.at(x));
  }

  scaleRows(x: F32Buffer, rows: number, cols: number, s: F32Buffer): void {
    checkScale('scaleRows', rows, cols, x, s, rows);
    this.fn.scaleRows(this.at(x), rows, cols, this.at(s));
  }

  scaleCols(x: F32Buffer, rows: number, cols: number, s: F32Buffer): void {
    checkScale('scaleCols', rows, cols, x, s, cols);
    this.fn.scaleCols(this.at(x), rows, cols, this.at(s));
  }

  allFinite(x: F32Buffer): boolean {
    return this.fn.allFinite(x.length, this.at(x)) !== 0;
  }
}
