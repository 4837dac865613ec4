import type * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';

export const TASKS = ['mnist-mlp', 'char-lm', 'idx'] as const;
export type TaskName = (typeof TASKS)[number];

export interface Batch {
  inputs: tf.Tensor;
  /** One-hot targets `[rows, classes]` (rows = examples, or examples × positions for the LM). */
  targets: tf.Tensor2D;
}

export interface EvalResult {
  /** Mean loss in the task's unit (nats, or bits per character for the LM). */
  loss: number;
  accuracy: number;
}

/** One training run's model and data stream; created afresh (same seed → same weights) for each optimizer. */
export interface TaskRun {
  model: tfl.LayersModel;
  /** The next training batch, in the order fixed by the seed. The caller disposes it. */
  nextBatch(): Batch;
  /** Mean cross-entropy of a batch in nats; differentiable (call inside tf.variableGrads). */
  loss(batch: Batch): tf.Scalar;
  evaluate(split: 'train' | 'test'): EvalResult;
  dispose(): void;
}

export interface Task {
  name: TaskName;
  /** Unit of every loss the CLI reports for this task. */
  lossUnit: 'nats' | 'bits/char';
  /** Multiplier from nats (what `loss()` returns) to `lossUnit`. */
  lossScale: number;
  /** Data and model description for results.json. */
  describe(): Record<string, unknown>;
  start(seed: number, batchSize: number): TaskRun;
}

/** Mean softmax cross-entropy (nats) and accuracy of logits `[rows, classes]` against one-hot targets. */
export interface LossAndHits {
  lossSum: number;
  hits: number;
  rows: number;
}
