/**
 * The low-precision codecs over arena buffers: what an optimizer calls in its hot path. No allocation per
 * call; the WASM engine runs the same contract on the same `WebAssembly.Memory` as the dense kernels.
 */
import { EngineError, ShapeError } from '../errors.ts';
import type { Arena, ArenaBuffer, EngineName, F32Buffer, F64Buffer } from '../kernels/index.ts';
import {
  decodeBf16Bits,
  encodeBf16Bits,
  encodeBf16BitsStochastic,
  type StochasticRoundingState,
} from './bf16.ts';
import type { Codebook4Name } from './codebooks.ts';
import { checkCorrelationBuffers, correlationEmaRows } from './correlation-ema.ts';
import { dequantizeBlocks, QUANT4_BLOCK, quantizeBlocks } from './quant4.ts';
import { dequantize8, quantize8 } from './quant8.ts';

export type U8Buffer = ArenaBuffer<'u8'>;
export type U16Buffer = ArenaBuffer<'u16'>;

/**
 * Every method reads and writes only the leading part of each buffer it needs; the layouts are those of
 * `quant4.ts`, `quant8.ts` and `bf16.ts`. Each engine gives bit-identical results (the TypeScript engine is the reference).
 */
export interface Codecs {
  readonly engine: EngineName;
  readonly arena: Arena;

  /** 4-bit block-wise quantization of a row-major rows×cols matrix (see `quantize4`). */
  quantize4(
    x: F32Buffer,
    rows: number,
    cols: number,
    codes: U8Buffer,
    scales: F32Buffer,
    codebook: Codebook4Name,
    blockSize?: number,
  ): void;

  /** `out = fround(code[q]·scale)` for a rows×cols matrix (see `dequantize4`). */
  dequantize4(
    codes: U8Buffer,
    scales: F32Buffer,
    rows: number,
    cols: number,
    out: F32Buffer,
    codebook: Codebook4Name,
    blockSize?: number,
  ): void;

  /** DiagReal quantization of an n×n matrix: exact diagonal into `diag`, the rest as `quantize4` with it zeroed. */
  quantize4DiagReal(
    x: F32Buffer,
    n: number,
    codes: U8Buffer,
    scales: F32Buffer,
    diag: F32Buffer,
    codebook: Codebook4Name,
    blockSize?: number,
  ): void;

  /** Inverse of `quantize4DiagReal`. */
  dequantize4DiagReal(
    codes: U8Buffer,
    scales: F32Buffer,
    diag: F32Buffer,
    n: number,
    out: F32Buffer,
    codebook: Codebook4Name,
    blockSize?: number,
  ): void;

  /** 8-bit linear block quantization of x[0 … n) into n codes and ⌈n/blockSize⌉ scales (see `quantize8`). */
  quantize8(x: F32Buffer, n: number, codes: U8Buffer, scales: F32Buffer, blockSize: number): void;

  /** `out[i] = fround(q_i·(scale/127))` for i < n (see `dequantize8`). */
  dequantize8(codes: U8Buffer, scales: F32Buffer, n: number, out: F32Buffer, blockSize: number): void;

  /** `out[i] = bf16(x[i])`, round to nearest even, over x.length elements. */
  bf16Encode(x: F32Buffer, out: U16Buffer): void;

  /** `out[i] = bf16(x[i])` with stochastic rounding; advances `state.counter` by x.length. */
  bf16EncodeStochastic(x: F32Buffer, out: U16Buffer, state: StochasticRoundingState): void;

  /** `out[i] = float32(u[i])` (exact), over u.length elements. */
  bf16Decode(u: U16Buffer, out: F32Buffer): void;

  /**
   * One EMA step of a correlation triangle's fp32 values in place (see `correlationEmaRows`): `values` holds
   * the d(d−1)/2 pairs of the strict upper triangle row by row, `increment` the d×d row-major ΔS (only its
   * strict upper triangle is read), `rootOld`/`rootNew` the d square roots of the old and new diagonal.
   */
  correlationEma(
    values: F32Buffer,
    increment: F32Buffer,
    d: number,
    rootOld: F64Buffer,
    rootNew: F64Buffer,
    beta: number,
    weight: number,
  ): void;
}

/**
 * The pure-TypeScript codecs: the fallback engine and the oracle for the WASM engine. Apart from typed-array
 * views re-created after the memory grows, a call allocates nothing.
 */
export class TsCodecs implements Codecs {
  readonly engine = 'typescript' as const;
  readonly arena: Arena;
  private bitsFor: ArrayBuffer | null = null;
  private bitsView: Uint32Array | null = null;

  constructor(arena: Arena) {
    this.arena = arena;
  }

  /** Word index of an f32 buffer in `bits()`, after checking it lives in this arena's memory. */
  private wordAt(buffer: F32Buffer): number {
    if (buffer.arena !== this.arena) {
      throw new EngineError('typescript: a buffer from another compute context was passed to a codec');
    }
    return buffer.byteOffset >> 2;
  }

  /** The whole memory as 32-bit words, to read and write float32 bit patterns of any f32 buffer. */
  private bits(): Uint32Array {
    const buffer = this.arena.memory.buffer;
    if (this.bitsFor !== buffer || this.bitsView === null) {
      this.bitsView = new Uint32Array(buffer);
      this.bitsFor = buffer;
    }
    return this.bitsView;
  }

  quantize4(
    x: F32Buffer,
    rows: number,
    cols: number,
    codes: U8Buffer,
    scales: F32Buffer,
    codebook: Codebook4Name,
    blockSize = QUANT4_BLOCK,
  ): void {
    quantizeBlocks(x.view(), rows, cols, blockSize, codes.view(), scales.view(), null, codebook);
  }

  dequantize4(
    codes: U8Buffer,
    scales: F32Buffer,
    rows: number,
    cols: number,
    out: F32Buffer,
    codebook: Codebook4Name,
    blockSize = QUANT4_BLOCK,
  ): void {
    dequantizeBlocks(codes.view(), scales.view(), null, rows, cols, blockSize, out.view(), codebook);
  }

  quantize4DiagReal(
    x: F32Buffer,
    n: number,
    codes: U8Buffer,
    scales: F32Buffer,
    diag: F32Buffer,
    codebook: Codebook4Name,
    blockSize = QUANT4_BLOCK,
  ): void {
    quantizeBlocks(x.view(), n, n, blockSize, codes.view(), scales.view(), diag.view(), codebook);
  }

  dequantize4DiagReal(
    codes: U8Buffer,
    scales: F32Buffer,
    diag: F32Buffer,
    n: number,
    out: F32Buffer,
    codebook: Codebook4Name,
    blockSize = QUANT4_BLOCK,
  ): void {
    dequantizeBlocks(codes.view(), scales.view(), diag.view(), n, n, blockSize, out.view(), codebook);
  }

  quantize8(x: F32Buffer, n: number, codes: U8Buffer, scales: F32Buffer, blockSize: number): void {
    quantize8(x.view(), n, codes.view(), scales.view(), blockSize);
  }

  dequantize8(codes: U8Buffer, scales: F32Buffer, n: number, out: F32Buffer, blockSize: number): void {
    dequantize8(codes.view(), scales.view(), n, out.view(), blockSize);
  }

  bf16Encode(x: F32Buffer, out: U16Buffer): void {
    encodeBf16Bits(this.bits(), this.wordAt(x), x.length, out.view());
  }

  bf16EncodeStochastic(x: F32Buffer, out: U16Buffer, state: StochasticRoundingState): void {
    encodeBf16BitsStochastic(this.bits(), this.wordAt(x), x.length, out.view(), state);
  }

  bf16Decode(u: U16Buffer, out: F32Buffer): void {
    if (out.length < u.length) {
      throw new ShapeError(`bf16Decode: destination has ${out.length} elements, needs ${u.length}`);
    }
    decodeBf16Bits(u.view(), this.bits(), this.wordAt(out));
  }

  correlationEma(
    values: F32Buffer,
    increment: F32Buffer,
    d: number,
    rootOld: F64Buffer,
    rootNew: F64Buffer,
    beta: number,
    weight: number,
  ): void {
    checkCorrelationBuffers(
      'correlationEma',
      d,
      values.length,
      increment.length,
      rootOld.length,
      rootNew.length,
    );
    correlationEmaRows(values.view(), increment.view(), d, rootOld.view(), rootNew.view(), beta, weight);
  }
}
