import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import type { ImageDataset, ImageSplit } from '../data/image-dataset.ts';
import { buildMlp } from '../models/mlp.ts';
import { Prng } from '../prng.ts';
import type { Batch, EvalResult, Task, TaskName, TaskRun } from './task.ts';

export const MLP_HIDDEN: readonly number[] = [512, 256];
/** Rows per forward pass when evaluating, to bound memory on large test sets. */
const EVAL_CHUNK = 1000;
/** The training loss/accuracy at the end is measured on at most this many training examples (fixed subset). */
const TRAIN_EVAL_MAX = 10_000;

/** Epoch-based batch order: a fresh seeded permutation per epoch, the last partial batch dropped. */
export class EpochSampler {
  private readonly prng: Prng;
  private order: Int32Array;
  private pos = 0;
  epoch = 0;

  constructor(
    readonly n: number,
    readonly batchSize: number,
    seed: number,
  ) {
    if (batchSize > n) throw new RangeError(`batch size ${batchSize} exceeds the ${n} training examples`);
    this.prng = new Prng(seed);
    this.order = this.prng.permutation(n);
  }

  next(): Int32Array {
    if (this.pos + this.batchSize > this.n) {
      this.order = this.prng.permutation(this.n);
      this.pos = 0;
      this.epoch++;
    }
    const idx = this.order.subarray(this.pos, this.pos + this.batchSize);
    this.pos += this.batchSize;
    return idx;
  }
}

function gather(ds: ImageDataset, idx: ArrayLike<number>): Batch {
  const x = new Float32Array(idx.length * ds.dim);
  const y = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) {
    const j = idx[i];
    x.set(ds.x.subarray(j * ds.dim, (j + 1) * ds.dim), i * ds.dim);
    y[i] = ds.y[j];
  }
  return tf.tidy(() => ({
    inputs: tf.tensor2d(x, [idx.length, ds.dim]),
    targets: tf.cast(tf.oneHot(tf.tensor1d(y, 'int32'), ds.numClasses), 'float32') as tf.Tensor2D,
  }));
}

export function evaluateLogits(
  model: tfl.LayersModel,
  ds: ImageDataset,
  rows: number,
): { lossSum: number; hits: number } {
  let lossSum = 0;
  let hits = 0;
  for (let start = 0; start < rows; start += EVAL_CHUNK) {
    const idx = Int32Array.from({ length: Math.min(EVAL_CHUNK, rows - start) }, (_, i) => start + i);
    const batch = gather(ds, idx);
    const [l, h] = tf.tidy(() => {
      const logits = model.apply(batch.inputs, { training: false }) as tf.Tensor2D;
      const loss = tf.sum(
        tf.losses.softmaxCrossEntropy(batch.targets, logits, undefined, 0, tf.Reduction.NONE),
      );
      const hit = tf.sum(tf.cast(tf.equal(tf.argMax(logits, 1), tf.argMax(batch.targets, 1)), 'float32'));
      return [loss.dataSync()[0], hit.dataSync()[0]];
    });
    lossSum += l;
    hits += h;
    tf.dispose([batch.inputs, batch.targets]);
  }
  return { lossSum, hits };
}

/** An MLP classifier (784-512-256-10 on MNIST) trained with softmax cross-entropy. */
export function classificationTask(
  name: TaskName,
  split: ImageSplit,
  hidden: readonly number[] = MLP_HIDDEN,
): Task {
  const { train, test } = split;
  const trainEvalRows = Math.min(train.n, TRAIN_EVAL_MAX);
  return {
    name,
    lossUnit: 'nats',
    lossScale: 1,
    describe: () => ({
      data: split.source,
      trainExamples: train.n,
      testExamples: test.n,
      trainEvalExamples: trainEvalRows,
      inputDim: train.dim,
      classes: train.numClasses,
      model: `MLP ${[train.dim, ...hidden, train.numClasses].join('-')} (ReLU, softmax cross-entropy, Glorot-uniform init)`,
    }),
    start(seed: number, batchSize: number): TaskRun {
      const model = buildMlp(train.dim, hidden, train.numClasses, seed);
      // Batch order gets its own stream, derived from the seed but distinct from the initializers' stream.
      const sampler = new EpochSampler(train.n, batchSize, new Prng(seed ^ 0x5bd1e995).seed());
      return {
        model,
        nextBatch: () => gather(train, sampler.next()),
        loss: (batch) =>
          tf.tidy(() => {
            const logits = model.apply(batch.inputs, { training: true }) as tf.Tensor2D;
            return tf.losses.softmaxCrossEntropy(batch.targets, logits) as tf.Scalar;
          }),
        evaluate(which): EvalResult {
          const ds = which === 'train' ? train : test;
          const rows = which === 'train' ? trainEvalRows : test.n;
          const { lossSum, hits } = evaluateLogits(model, ds, rows);
          return { loss: lossSum / rows, accuracy: hits / rows };
        },
        dispose: () => model.dispose(),
      };
    },
  };
}
