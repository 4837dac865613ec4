import { EngineError, ShapeError } from '../errors.ts';
import type {
  Arena,
  ArenaBuffer,
  F32Buffer,
  F64Buffer,
  Kernels,
  WasmEngineName,
  WasmHandle,
} from '../kernels/index.ts';
import type { StochasticRoundingState } from './bf16.ts';
import { type Codebook4Name, codebook4Shared, codebookThresholds } from './codebooks.ts';
import { type Codecs, TsCodecs, type U8Buffer, type U16Buffer } from './codecs.ts';
import { checkCorrelationBuffers } from './correlation-ema.ts';
import { checkQuant4Buffers, QUANT4_BLOCK } from './quant4.ts';
import { checkQuant8Buffers } from './quant8.ts';

/** The exports of assembly/quant.ts, assembly/quant8.ts and assembly/correlation.ts (pointers are byte offsets into the arena's memory). */
interface CodecExports {
  quant4Tables(): number;
  quant4Quantize(
    x: number,
    rows: number,
    cols: number,
    block: number,
    codes: number,
    scales: number,
    codebook: number,
    diag: number,
  ): void;
  quant4Dequantize(
    codes: number,
    scales: number,
    rows: number,
    cols: number,
    block: number,
    codebook: number,
    diag: number,
    out: number,
  ): void;
  quant8Quantize(x: number, n: number, codes: number, scales: number, block: number): void;
  quant8Dequantize(codes: number, scales: number, n: number, block: number, out: number): void;
  bf16Encode(n: number, x: number, out: number): void;
  bf16EncodeStochastic(n: number, x: number, out: number, counter: number, key: number): void;
  bf16Decode(n: number, u: number, out: number): void;
  correlationEma(
    values: number,
    inc: number,
    d: number,
    rootOld: number,
    rootNew: number,
    beta: number,
    weight: number,
  ): void;
}

const CODEBOOK_IDS: Record<Codebook4Name, number> = { 'linear-2': 0, dynamic: 1 };
const TABLE_STRIDE = 192;

function hasCodecExports(exports: WebAssembly.Exports): boolean {
  return (
    typeof exports.quant4Quantize === 'function' &&
    typeof exports.quant4Tables === 'function' &&
    typeof exports.correlationEma === 'function' &&
    typeof exports.quant8Quantize === 'function'
  );
}

/**
 * Writes each codebook's table into the module's static area: codes, thresholds, and the four byte planes
 * the SIMD dequantizer looks codes up in (plane k, entry i = byte k of code i, little-endian).
 */
function writeTables(memory: WebAssembly.Memory, base: number): void {
  for (const name of ['linear-2', 'dynamic'] as const) {
    const at = base + CODEBOOK_IDS[name] * TABLE_STRIDE;
    const code = codebook4Shared(name);
    new Float32Array(memory.buffer, at, 16).set(code);
    const thr = new Float32Array(memory.buffer, at + 64, 16);
    thr.set(codebookThresholds(code));
    thr[15] = 0;
    const codeBytes = new Uint8Array(code.buffer, code.byteOffset, 64);
    const planes = new Uint8Array(memory.buffer, at + 128, 64);
    for (let k = 0; k < 4; k++) for (let i = 0; i < 16; i++) planes[k * 16 + i] = codeBytes[i * 4 + k];
  }
}

/** The codecs of one WebAssembly instance; the same arena (and memory) as the dense kernels. */
export class WasmCodecs implements Codecs {
  readonly engine: WasmEngineName;
  readonly arena: Arena;
  private readonly fn: CodecExports;

  constructor(handle: WasmHandle, arena: Arena) {
    if (!hasCodecExports(handle.exports)) {
      throw new EngineError(
        `${handle.engine}: this WASM build has no codec kernels (rebuild with npm run build:wasm)`,
      );
    }
    this.engine = handle.engine;
    this.arena = arena;
    this.fn = handle.exports as unknown as CodecExports;
    writeTables(arena.memory, this.fn.quant4Tables());
  }

  private at(buffer: ArenaBuffer): number {
    if (buffer.arena !== this.arena) {
      throw new EngineError(`${this.engine}: a buffer from another compute context was passed to a codec`);
    }
    return buffer.byteOffset;
  }

  private quant4(
    x: F32Buffer,
    rows: number,
    cols: number,
    codes: U8Buffer,
    scales: F32Buffer,
    diag: F32Buffer | null,
    codebook: Codebook4Name,
    blockSize: number,
  ): void {
    const nd = diag === null ? null : diag.length;
    checkQuant4Buffers('quantize4', rows, cols, blockSize, x.length, codes.length, scales.length, nd);
    const id = CODEBOOK_IDS[codebook];
    const pd = diag === null ? 0 : this.at(diag);
    this.fn.quant4Quantize(this.at(x), rows, cols, blockSize, this.at(codes), this.at(scales), id, pd);
  }

  private dequant4(
    codes: U8Buffer,
    scales: F32Buffer,
    diag: F32Buffer | null,
    rows: number,
    cols: number,
    out: F32Buffer,
    codebook: Codebook4Name,
    blockSize: number,
  ): void {
    const nd = diag === null ? null : diag.length;
    checkQuant4Buffers('dequantize4', rows, cols, blockSize, out.length, codes.length, scales.length, nd);
    const id = CODEBOOK_IDS[codebook];
    const pd = diag === null ? 0 : this.at(diag);
    this.fn.quant4Dequantize(this.at(codes), this.at(scales), rows, cols, blockSize, id, pd, this.at(out));
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
    this.quant4(x, rows, cols, codes, scales, null, codebook, blockSize);
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
    this.dequant4(codes, scales, null, rows, cols, out, codebook, blockSize);
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
    this.quant4(x, n, n, codes, scales, diag, codebook, blockSize);
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
    this.dequant4(codes, scales, diag, n, n, out, codebook, blockSize);
  }

  quantize8(x: F32Buffer, n: number, codes: U8Buffer, scales: F32Buffer, blockSize: number): void {
    checkQuant8Buffers('quantize8', n, blockSize, x.length, codes.length, scales.length);
    this.fn.quant8Quantize(this.at(x), n, this.at(codes), this.at(scales), i32Block(n, blockSize));
  }

  dequantize8(codes: U8Buffer, scales: F32Buffer, n: number, out: F32Buffer, blockSize: number): void {
    checkQuant8Buffers('dequantize8', n, blockSize, out.length, codes.length, scales.length);
    this.fn.quant8Dequantize(this.at(codes), this.at(scales), n, i32Block(n, blockSize), this.at(out));
  }

  bf16Encode(x: F32Buffer, out: U16Buffer): void {
    checkBf16('bf16Encode', x.length, out.length);
    this.fn.bf16Encode(x.length, this.at(x), this.at(out));
  }

  bf16EncodeStochastic(x: F32Buffer, out: U16Buffer, state: StochasticRoundingState): void {
    checkBf16('bf16EncodeStochastic', x.length, out.length);
    const counter = state.counter >>> 0;
    this.fn.bf16EncodeStochastic(x.length, this.at(x), this.at(out), counter, state.key >>> 0);
    state.counter = (counter + x.length) >>> 0;
  }

  bf16Decode(u: U16Buffer, out: F32Buffer): void {
    checkBf16('bf16Decode', u.length, out.length);
    this.fn.bf16Decode(u.length, this.at(u), this.at(out));
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
    const pv = this.at(values);
    const pi = this.at(increment);
    this.fn.correlationEma(pv, pi, d, this.at(rootOld), this.at(rootNew), beta, weight);
  }
}

/**
 * A block size the kernels take as i32: any block of n or more elements is one block holding all n, so larger
 * sizes (which would wrap in i32) are passed as max(n, 1).
 */
function i32Block(n: number, blockSize: number): number {
  return Math.min(blockSize, Math.max(n, 1));
}

function checkBf16(what: string, n: number, dst: number): void {
  if (dst < n) throw new ShapeError(`${what}: destination has ${dst} elements, needs ${n}`);
}

/**
 * The codecs for a compute context: the WASM codecs over the same instance and arena when `kernels` is a WASM
 * engine whose build includes them, otherwise the TypeScript codecs over `kernels.arena`.
 */
export function createCodecs(kernels: Kernels): Codecs {
  if (kernels.wasm !== undefined && hasCodecExports(kernels.wasm.exports)) {
    return new WasmCodecs(kernels.wasm, kernels.arena);
  }
  return new TsCodecs(kernels.arena);
}
