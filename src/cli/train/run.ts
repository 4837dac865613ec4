import * as tf from '@tensorflow/tfjs-core';
import { ShampooError } from '../../errors.ts';
import type { StateBytes } from '../../optimizers/optimizer.ts';
import type { OptimizerSpec } from '../optimizer-specs.ts';
import type { ProgressSink } from '../report/progress.ts';
import type { Task } from '../tasks/task.ts';
import { median } from './curves.ts';
import { type AdapterOptimizer, createOptimizer, type EngineOption } from './optimizer-factory.ts';

export interface RunSettings {
  spec: OptimizerSpec;
  lr: number;
  engine: EngineOption;
  extra?: Readonly<Record<string, unknown>>;
  steps: number;
  batchSize: number;
  seed: number;
  /** Evaluate on the test set every this many steps (and at steps 0 and `steps`). */
  evalEvery: number;
}

export interface EvalPoint {
  step: number;
  /** Training wall-clock (ms) at that point, evaluation time excluded. */
  timeMs: number;
  testLoss: number;
  testAccuracy: number;
}

export interface RunRecord {
  label: string;
  method: string;
  precision: string;
  lr: number;
  /** The optimizer's resolved configuration (every default filled in). */
  config: Record<string, unknown>;
  engine: string;
  parameters: number;
  /** Steps completed (fewer than asked if the run diverged or failed). */
  stepsDone: number;
  /** Minibatch training loss after each step's forward pass, in the task's unit. */
  loss: number[];
  /** Cumulative training wall-clock (ms) at the end of each step. */
  timeMs: number[];
  evals: EvalPoint[];
  final: { trainLoss: number; trainAccuracy: number; testLoss: number; testAccuracy: number };
  wallClockMs: number;
  /**
   * Per-step time of the optimizer update through the tfjs adapter, `applyGradients` (ms): gradient download,
   * the core step and the weight upload. Median and 90th percentile.
   */
  optimizerStepMs: { median: number; p90: number };
  stateBytes: StateBytes;
  /** Set when training stopped early: a non-finite gradient or a failed numerical routine. */
  failure?: { step: number; error: string };
}

function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** Trains the task's model from `seed` with one optimizer and records everything the report needs. */
export async function runOne(task: Task, settings: RunSettings, progress: ProgressSink): Promise<RunRecord> {
  const { spec, steps } = settings;
  const run = task.start(settings.seed, settings.batchSize);
  let optimizer: AdapterOptimizer | undefined;
  try {
    const variables = run.model.trainableWeights.map((w) => w.read() as tf.Variable);
    optimizer = createOptimizer(spec, {
      lr: settings.lr,
      engine: settings.engine,
      ...(settings.extra ? { extra: settings.extra } : {}),
    });
    const loss: number[] = [];
    const timeMs: number[] = [];
    const optMs: number[] = [];
    const evals: EvalPoint[] = [];
    let elapsed = 0;
    let failure: RunRecord['failure'];
    const evaluateTest = (step: number) => {
      const r = run.evaluate('test');
      evals.push({ step, timeMs: elapsed, testLoss: r.loss, testAccuracy: r.accuracy });
    };
    evaluateTest(0);
    progress.start(spec.label, steps);
    for (let step = 1; step <= steps; step++) {
      const t0 = performance.now();
      const batch = run.nextBatch();
      const { value, grads } = tf.variableGrads(() => run.loss(batch), variables);
      const lossValue = value.dataSync()[0] * task.lossScale;
      const ordered = variables.map((v) => {
        const g = grads[v.name];
        if (!g) throw new Error(`no gradient for variable '${v.name}'`);
        return g;
      });
      try {
        const t1 = performance.now();
        // By position: the adapter matches gradients to variables in list order.
        optimizer.applyGradients(variables.map((v, i) => ({ name: v.name, tensor: ordered[i] })));
        optMs.push(performance.now() - t1);
      } catch (e) {
        if (!(e instanceof ShampooError)) throw e;
        failure = { step, error: e.message };
      } finally {
        tf.dispose([value, batch.inputs, batch.targets, ...ordered]);
      }
      if (failure) break;
      elapsed += performance.now() - t0;
      loss.push(lossValue);
      timeMs.push(elapsed);
      progress.update(step, lossValue);
      if (step % settings.evalEvery === 0 && step !== steps) evaluateTest(step);
      // Let the terminal redraw and signals through between steps.
      await new Promise((resolve) => setImmediate(resolve));
    }
    progress.stop();
    if (failure) progress.log(`  ${spec.label}: stopped at step ${failure.step}: ${failure.error}`);
    const stepsDone = loss.length;
    if (!failure) evaluateTest(stepsDone);
    const lastTest = evals[evals.length - 1];
    const train = failure ? { loss: Number.NaN, accuracy: Number.NaN } : run.evaluate('train');
    const parameters = variables.reduce((a, v) => a + v.size, 0);
    const core = optimizer.coreOptimizer;
    return {
      label: spec.label,
      method: spec.method,
      precision: String(optimizer.config.precision ?? spec.precision ?? 'fp32'),
      lr: settings.lr,
      config: { ...(core?.config ?? optimizer.config) },
      engine: core?.engine ?? 'none',
      parameters,
      stepsDone,
      loss,
      timeMs,
      evals,
      final: {
        trainLoss: train.loss,
        trainAccuracy: train.accuracy,
        testLoss: failure ? Number.NaN : lastTest.testLoss,
        testAccuracy: failure ? Number.NaN : lastTest.testAccuracy,
      },
      wallClockMs: elapsed,
      optimizerStepMs: { median: median(optMs), p90: percentile(optMs, 0.9) },
      stateBytes: core?.stateBytes() ?? { total: 0, byKind: {} },
      ...(failure ? { failure } : {}),
    };
  } finally {
    progress.stop();
    optimizer?.dispose();
    run.dispose();
  }
}
