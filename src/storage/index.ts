export {
  bf16ToF32,
  bitsToBf16,
  bitsToBf16Stochastic,
  decodeBf16,
  encodeBf16,
  encodeBf16Stochastic,
  f32ToBf16,
  hash32,
  roundToBf16,
  type StochasticRoundingState,
} from './bf16.ts';
export {
  CODEBOOK_SIZE,
  type Codebook4Name,
  codebook4,
  codebookThresholds,
  zeroIndex,
} from './codebooks.ts';
export { type Codecs, TsCodecs, type U8Buffer, type U16Buffer } from './codecs.ts';
export {
  dequantize4,
  dequantize4DiagReal,
  dQuantize,
  QUANT4_BLOCK,
  type Quant4Layout,
  type Quant4Options,
  quant4Bytes,
  quant4Layout,
  quantize4,
  quantize4DiagReal,
} from './quant4.ts';
export { createCodecs, WasmCodecs } from './wasm-codecs.ts';
