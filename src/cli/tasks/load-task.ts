import { loadBrownCorpus } from '../data/brown-corpus.ts';
import type { IdxPaths } from '../data/idx-dataset.ts';
import { loadIdxSplit } from '../data/idx-dataset.ts';
import { head } from '../data/image-dataset.ts';
import { loadMnistPackage } from '../data/mnist-package.ts';
import { DEFAULT_TRANSFORMER } from '../models/transformer-lm.ts';
import { UsageError } from '../usage-error.ts';
import { charLmTask } from './char-lm.ts';
import { classificationTask } from './classification.ts';
import type { Task, TaskName } from './task.ts';

export interface TaskData {
  task: TaskName;
  batchSize: number;
  idx?: IdxPaths;
  /** Keep only the first N training examples (characters for char-lm). */
  trainSubset?: number;
  /** Keep only the first N test examples (characters for char-lm). */
  testSubset?: number;
  /** Hidden layer sizes of the MLP (mnist-mlp, idx). */
  hidden?: readonly number[];
}

/** Loads the task's data (from installed packages or the given files) and checks the batch size fits it. */
export function loadTask(opts: TaskData): Task {
  if (opts.task === 'char-lm') {
    const corpus = loadBrownCorpus();
    const minChars = DEFAULT_TRANSFORMER.context + 2;
    for (const [flag, n] of [
      ['--train-subset', opts.trainSubset],
      ['--test-subset', opts.testSubset],
    ] as const) {
      if (n !== undefined && n < minChars)
        throw new UsageError(`${flag} must be at least ${minChars} characters for char-lm`);
    }
    if (opts.trainSubset !== undefined) corpus.train = corpus.train.subarray(0, opts.trainSubset);
    if (opts.testSubset !== undefined) corpus.test = corpus.test.subarray(0, opts.testSubset);
    return charLmTask(corpus);
  }
  const split = opts.task === 'idx' ? loadIdxSplit(opts.idx!) : loadMnistPackage();
  if (opts.trainSubset !== undefined) split.train = head(split.train, opts.trainSubset);
  if (opts.testSubset !== undefined) split.test = head(split.test, opts.testSubset);
  if (opts.batchSize > split.train.n) {
    throw new UsageError(
      `--batch-size ${opts.batchSize} is larger than the ${split.train.n} training examples`,
    );
  }
  return classificationTask(opts.task, split, opts.hidden);
}
