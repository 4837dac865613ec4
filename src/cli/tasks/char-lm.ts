import * as tf from '@tensorflow/tfjs-core';
import type { CharCorpus } from '../data/brown-corpus.ts';
import { buildTransformerLm, DEFAULT_TRANSFORMER } from '../models/transformer-lm.ts';
import { Prng } from '../prng.ts';
import type { Batch, EvalResult, Task, TaskRun } from './task.ts';

/** Evaluation windows per split (each scores `context` next-character predictions). */
const EVAL_WINDOWS = 64;
const EVAL_CHUNK = 32;

/**
 * Start offsets of up to `count` windows of `context + 1` characters spread evenly over the text, never
 * overlapping (a short text gets fewer windows). Fixed, so every optimizer is scored on the same characters.
 */
export function evenWindows(textLength: number, context: number, count: number): number[] {
  const span = textLength - (context + 1);
  if (span < 0)
    throw new RangeError(`text of ${textLength} characters is shorter than a window of ${context + 1}`);
  const n = Math.max(1, Math.min(count, Math.floor(textLength / (context + 1))));
  return Array.from({ length: n }, (_, i) => (n === 1 ? 0 : Math.floor((i * span) / (n - 1))));
}

function windowsBatch(text: Uint8Array, starts: readonly number[], context: number, vocab: number): Batch {
  const inputs = new Int32Array(starts.length * context);
  const next = new Int32Array(starts.length * context);
  starts.forEach((s, b) => {
    for (let t = 0; t < context; t++) {
      inputs[b * context + t] = text[s + t];
      next[b * context + t] = text[s + t + 1];
    }
  });
  return tf.tidy(() => ({
    inputs: tf.tensor2d(inputs, [starts.length, context], 'int32'),
    targets: tf.cast(tf.oneHot(tf.tensor1d(next, 'int32'), vocab), 'float32') as tf.Tensor2D,
  }));
}

/** A character-level Transformer LM on the Brown corpus; losses are reported in bits per character. */
export function charLmTask(corpus: CharCorpus): Task {
  const cfg = { ...DEFAULT_TRANSFORMER, vocabSize: corpus.vocab.length };
  const { context } = cfg;
  const evalStarts = {
    train: evenWindows(corpus.train.length, context, EVAL_WINDOWS),
    test: evenWindows(corpus.test.length, context, EVAL_WINDOWS),
  };
  return {
    name: 'char-lm',
    lossUnit: 'bits/char',
    lossScale: 1 / Math.LN2,
    describe: () => ({
      data: corpus.source,
      trainCharacters: corpus.train.length,
      testCharacters: corpus.test.length,
      vocabulary: corpus.vocab.length,
      evalWindows: { train: evalStarts.train.length, test: evalStarts.test.length, context },
      model: `character Transformer: ${cfg.layers} pre-LN blocks, width ${cfg.width}, ${cfg.heads} heads, context ${context}, MLP 4x GELU, learned positions`,
    }),
    start(seed: number, batchSize: number): TaskRun {
      const model = buildTransformerLm(cfg, seed);
      const prng = new Prng(new Prng(seed ^ 0x5bd1e995).seed());
      const maxStart = corpus.train.length - (context + 1);
      const logitsOf = (batch: Batch, training: boolean) =>
        tf.reshape(model.apply(batch.inputs, { training }) as tf.Tensor, [-1, cfg.vocabSize]) as tf.Tensor2D;
      return {
        model,
        nextBatch: () => {
          const starts = Array.from({ length: batchSize }, () => prng.int(maxStart + 1));
          return windowsBatch(corpus.train, starts, context, cfg.vocabSize);
        },
        loss: (batch) =>
          tf.tidy(() => tf.losses.softmaxCrossEntropy(batch.targets, logitsOf(batch, true)) as tf.Scalar),
        evaluate(which): EvalResult {
          const text = which === 'train' ? corpus.train : corpus.test;
          const starts = evalStarts[which];
          let lossSum = 0;
          let hits = 0;
          for (let i = 0; i < starts.length; i += EVAL_CHUNK) {
            const batch = windowsBatch(text, starts.slice(i, i + EVAL_CHUNK), context, cfg.vocabSize);
            const [l, h] = tf.tidy(() => {
              const logits = logitsOf(batch, false);
              const loss = tf.sum(
                tf.losses.softmaxCrossEntropy(batch.targets, logits, undefined, 0, tf.Reduction.NONE),
              );
              const hit = tf.sum(
                tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(batch.targets, 1)), 'float32'),
              );
              return [loss.dataSync()[0], hit.dataSync()[0]];
            });
            lossSum += l;
            hits += h;
            tf.dispose([batch.inputs, batch.targets]);
          }
          const rows = starts.length * context;
          return { loss: lossSum / rows / Math.LN2, accuracy: hits / rows };
        },
        dispose: () => model.dispose(),
      };
    },
  };
}
