/**
 * Learning-rate sweep behind the CLI's per-method defaults (DEFAULT_LR in src/cli/compare-options.ts):
 * trains the compare task once per (method, lr) from the same seed and prints the final smoothed training
 * loss and the test loss. CPU-heavy: run it alone.
 *
 *   node --import tsx scripts/tune-lr.ts [--task mnist-mlp] [--steps 200] [--batch-size 128] [--seed 1]
 *        [--methods adamw,soap] [--lrs 3e-4,1e-3,3e-3] [--config '{"epsilon":1e-8}']
 *
 * `--config` adds hyperparameters on top of the CLI's per-method settings (METHOD_CONFIG).
 */
import { parseArgs } from 'node:util';
import { useBackend } from '../src/cli/backend.ts';
import { METHOD_CONFIG, TASK_DEFAULTS } from '../src/cli/compare-options.ts';
import { METHODS, type MethodName } from '../src/cli/optimizer-specs.ts';
import { NoProgress } from '../src/cli/report/progress.ts';
import { loadTask } from '../src/cli/tasks/load-task.ts';
import type { TaskName } from '../src/cli/tasks/task.ts';
import { smoothEma, smoothingSpan } from '../src/cli/train/curves.ts';
import { runOne } from '../src/cli/train/run.ts';

const { values } = parseArgs({
  options: {
    task: { type: 'string', default: 'mnist-mlp' },
    steps: { type: 'string' },
    'batch-size': { type: 'string' },
    seed: { type: 'string', default: '1' },
    methods: { type: 'string', default: Object.keys(METHODS).join(',') },
    lrs: { type: 'string', default: '1e-4,3e-4,1e-3,3e-3,1e-2' },
    config: { type: 'string', default: '{}' },
  },
});
const task = values.task as TaskName;
const steps = Number(values.steps ?? TASK_DEFAULTS[task].steps);
const batchSize = Number(values['batch-size'] ?? TASK_DEFAULTS[task].batchSize);
const seed = Number(values.seed);
const methods = values.methods.split(',') as MethodName[];
const lrs = values.lrs.split(',').map(Number);
const extraConfig = JSON.parse(values.config) as Record<string, unknown>;

await useBackend('wasm');
const data = loadTask({ task, batchSize, hidden: [512, 256] });
console.log(
  `# lr sweep: ${task}, ${steps} steps, batch ${batchSize}, seed ${seed}, wasm backend, extra config ${values.config}`,
);
console.log('| method | lr | final smoothed train loss | test loss | test acc | wall-clock s |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const method of methods) {
  for (const lr of lrs) {
    const r = await runOne(
      data,
      {
        spec: { label: method, method },
        lr,
        engine: 'auto',
        extra: { ...METHOD_CONFIG[method], ...extraConfig },
        steps,
        batchSize,
        seed,
        evalEvery: steps,
      },
      new NoProgress(),
    );
    const smoothed = smoothEma(r.loss, smoothingSpan(steps));
    const final = r.failure ? `diverged at ${r.failure.step}` : smoothed[smoothed.length - 1].toFixed(4);
    console.log(
      `| ${method} | ${lr} | ${final} | ${r.final.testLoss.toFixed(4)} | ${(100 * r.final.testAccuracy).toFixed(2)}% | ${(r.wallClockMs / 1000).toFixed(1)} |`,
    );
  }
}
