/**
 * The low-precision codecs over arena buffers: what an optimizer calls in its hot path. No allocation per
 * call; the WASM engine runs the same contract on the same `WebAssembly.Memory` as the dense kernels.
 */
import type { Arena, ArenaBuffer, EngineName, F32Buffer } from '../kernels/index.ts';
import { decodeBf16, encodeBf16, encodeBf16Stochastic, type StochasticRoundingState } from './bf16.ts';
import type { Codebook4Name } from './codebooks.ts';
import { dequantize4, dequantize4DiagReal, QUANT4_BLOCK, quantize4, quantize4DiagReal } from './quant4.ts';

export type U8Buffer = ArenaBuffer<'u8'>;
export type U16Buffer = ArenaBuffer<'u16'>;

/**
 * Every method reads and writes only the leading part of each buffer it needs; the layouts are those of
 * `quant4.ts` and `bf16.ts`. Each engine gives bit-identical results (the TypeScript engine is the reference).
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

  /** `out[i] = bf16(x[i])`, round to nearest even, over x.length elements. */
  bf16Encode(x: F32Buffer, out: U16Buffer): void;

  /** `out[i] = bf16(x[i])` with stochastic rounding; advances `state.counter` by x.length. */
  bf16EncodeStochastic(x: F32Buffer, out: U16Buffer, state: StochasticRoundingState): void;

  /** `out[i] = float32(u[i])` (exact), over u.length elements. */
  bf16Decode(u: U16Buffer, out: F32Buffer): void;
}

/** The pure-TypeScript codecs: the fallback engine and the oracle for the WASM engine. */
export class TsCodecs implements Codecs {
  readonly engine = 'typescript' as const;
  readonly arena: Arena;

  constructor(arena: Arena) {
    this.arena = arena;
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
    quantize4(x.view(), rows, cols, codes.view(), scales.view(), { codebook, blockSize });
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
    dequantize4(codes.view(), scales.view(), rows, cols, out.view(), { codebook, blockSize });
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
    quantize4DiagReal(x.view(), n, codes.view(), scales.view(), diag.view(), { codebook, blockSize });
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
    dequantize4DiagReal(codes.view(), scales.view(), diag.view(), n, out.view(), { codebook, blockSize });
  }

  bf16Encode(x: F32Buffer, out: U16Buffer): void {
    encodeBf16(x.view(), out.view());
  }

  bf16EncodeStochastic(x: F32Buffer, out: U16Buffer, state: StochasticRoundingState): void {
    encodeBf16Stochastic(x.view(), out.view(), state);
  }

  bf16Decode(u: U16Buffer, out: F32Buffer): void {
    decodeBf16(u.view(), out.view());
  }
}
