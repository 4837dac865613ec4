import * as tfl from '@tensorflow/tfjs-layers';
import { Prng } from '../prng.ts';
import { CausalSelfAttention } from './causal-self-attention.ts';
import { LayerNorm } from './layer-norm.ts';
import { PositionEmbedding } from './position-embedding.ts';
import { TokenEmbedding } from './token-embedding.ts';

export interface TransformerLmConfig {
  vocabSize: number;
  context: number;
  width: number;
  layers: number;
  heads: number;
}

export const DEFAULT_TRANSFORMER: Omit<TransformerLmConfig, 'vocabSize'> = {
  context: 64,
  width: 128,
  layers: 2,
  heads: 4,
};

/**
 * A small pre-LN decoder-only Transformer (GPT-style): token + learned position embeddings, `layers` blocks of
 * `x + attn(LN(x))` then `x + MLP(LN(x))` (4× width, GELU), a final LN and a linear head to next-token logits.
 * Input: int32 token ids `[batch, context]`; output: logits `[batch, context, vocab]`.
 */
export function buildTransformerLm(cfg: TransformerLmConfig, seed: number): tfl.LayersModel {
  const seeds = new Prng(seed);
  const glorot = () => tfl.initializers.glorotUniform({ seed: seeds.seed() });
  const tokens = tfl.input({ shape: [cfg.context], dtype: 'int32', name: 'tokens' });
  const embedded = new TokenEmbedding({
    vocabSize: cfg.vocabSize,
    width: cfg.width,
    seed: seeds.seed(),
    name: 'token_embedding',
  }).apply(tokens) as tfl.SymbolicTensor;
  let x = new PositionEmbedding({ seed: seeds.seed(), name: 'position_embedding' }).apply(
    embedded,
  ) as tfl.SymbolicTensor;
  for (let i = 0; i < cfg.layers; i++) {
    const ln1 = new LayerNorm({ epsilon: 1e-5, name: `block${i}_ln1` }).apply(x);
    const attn = new CausalSelfAttention({
      heads: cfg.heads,
      seed: seeds.seed(),
      name: `block${i}_attention`,
    }).apply(ln1);
    x = tfl.layers
      .add({ name: `block${i}_residual1` })
      .apply([x, attn as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
    const ln2 = new LayerNorm({ epsilon: 1e-5, name: `block${i}_ln2` }).apply(x);
    const up = tfl.layers
      .dense({
        units: 4 * cfg.width,
        activation: 'gelu',
        kernelInitializer: glorot(),
        name: `block${i}_mlp_up`,
      })
      .apply(ln2);
    const down = tfl.layers
      .dense({ units: cfg.width, kernelInitializer: glorot(), name: `block${i}_mlp_down` })
      .apply(up);
    x = tfl.layers
      .add({ name: `block${i}_residual2` })
      .apply([x, down as tfl.SymbolicTensor]) as tfl.SymbolicTensor;
  }
  const final = new LayerNorm({ epsilon: 1e-5, name: 'final_ln' }).apply(x);
  const logits = tfl.layers
    .dense({ units: cfg.vocabSize, kernelInitializer: glorot(), name: 'lm_head' })
    .apply(final) as tfl.SymbolicTensor;
  return tfl.model({ inputs: tokens, outputs: logits, name: 'char_transformer' });
}
