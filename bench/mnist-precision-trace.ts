// Step-by-step comparison of storage precisions on the CLI's MNIST MLP: every variant trains its own copy of the
// model from the same seed on the same batches, in lockstep, and each step prints its minibatch loss and how
// far its parameters are from the reference variant's (the first one listed), relative to how far the
// reference has moved from the initialization, and how far it has moved itself (same scale). A second copy of
// the reference whose initial weights are one float32 ulp away (`<ref>+ulp`; `--no-ulp` drops it) shows
// what a round-off-sized difference alone does to the same distance.
//
// Also printed: the share of the first layer's movement that lies in the rows of pixels that were zero in every
// batch seen so far. Those rows get an exactly zero gradient, so any movement there comes from the optimizer's
// basis mixing them with live pixels.
//
// `node --import tsx bench/mnist-precision-trace.ts --method soap --precisions fp32,bf16,4bit --steps 40
//  [--lr 3e-3] [--seed 1] [--batch-size 64] [--engine wasm-relaxed-simd] [--no-ulp]
//  [--every 1] [--extra '{"subspaceSize":1024}'] [--json out.json]`
// `--extra` is merged into every variant's configuration (as `mnist-precision.ts --extra`).
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import { useBackend } from '../src/cli/backend.ts';
import { METHOD_CONFIG } from '../src/cli/compare-options.ts';
import { type MethodName, parseOptimizerList } from '../src/cli/optimizer-specs.ts';
import { loadTask } from '../src/cli/tasks/load-task.ts';
import type { TaskRun } from '../src/cli/tasks/task.ts';
import {
  type AdapterOptimizer,
  createOptimizer,
  type EngineOption,
} from '../src/cli/train/optimizer-factory.ts';

const { values } = parseArgs({
  options: {
    method: { type: 'string', default: 'soap' },
    precisions: { type: 'string', default: 'fp32,bf16,4bit' },
    steps: { type: 'string', default: '40' },
    lr: { type: 'string', default: '3e-3' },
    seed: { type: 'string', default: '1' },
    'batch-size': { type: 'string', default: '64' },
    engine: { type: 'string', default: 'wasm-relaxed-simd' },
    'no-ulp': { type: 'boolean', default: false },
    every: { type: 'string', default: '1' },
    extra: { type: 'string', default: '{}' },
    json: { type: 'string' },
  },
});

const method = values.method as MethodName;
const steps = Number(values.steps);
const every = Number(values.every);
const seed = Number(values.seed);
const batchSize = Number(values['batch-size']);
const lr = Number(values.lr);
const extra = JSON.parse(values.extra) as Record<string, unknown>;

interface Variant {
  label: string;
  run: TaskRun;
  variables: tf.Variable[];
  optimizer: AdapterOptimizer;
  params: Float32Array[];
}

await useBackend('wasm');
const task = loadTask({ task: 'mnist-mlp', batchSize });

function makeVariant(precision: string, engine: EngineOption, label: string): Variant {
  const spec = parseOptimizerList(`${method}:${precision}`)[0];
  const run = task.start(seed, batchSize);
  const variables = run.model.trainableWeights.map((w) => w.read() as tf.Variable);
  const optimizer = createOptimizer(spec, { lr, engine, extra: { ...METHOD_CONFIG[method], ...extra } });
  return { label, run, variables, optimizer, params: variables.map((v) => v.dataSync() as Float32Array) };
}

const precisions = values.precisions.split(',').map((s) => s.trim());
const engine = values.engine as EngineOption;
const variants = precisions.map((p) => makeVariant(p, engine, p));
// The round-off reference: the first variant again, with every initial weight moved by one float32 ulp.
if (!values['no-ulp']) {
  const v = makeVariant(precisions[0], engine, `${precisions[0]}+ulp`);
  for (const w of v.variables) {
    const bits = new Uint32Array(Float32Array.from(w.dataSync()).buffer);
    for (let i = 0; i < bits.length; i++) if ((bits[i] & 0x7fffffff) !== 0) bits[i] += 1;
    w.assign(tf.tensor(new Float32Array(bits.buffer), w.shape));
  }
  v.params = v.variables.map((w) => w.dataSync() as Float32Array);
  variants.push(v);
}
const initial = variants[0].variables.map((v) => Float32Array.from(v.dataSync()));
const inputDim = initial[0].length / (initial[1]?.length ?? 1);
const lit = new Float64Array(inputDim);

function distance(
  a: readonly Float32Array[],
  b: readonly Float32Array[],
  rows?: (r: number) => boolean,
): number {
  let s = 0;
  for (let p = 0; p < a.length; p++) {
    const x = a[p];
    const y = b[p];
    const cols = p === 0 && rows ? x.length / inputDim : 0;
    for (let i = 0; i < x.length; i++) {
      if (rows && (p !== 0 || !rows(Math.floor(i / cols)))) continue;
      const d = x[i] - y[i];
      s += d * d;
    }
  }
  return Math.sqrt(s);
}

const decode = (t: { dtype: string; data: ArrayLike<number> }): Float32Array =>
  t.dtype === 'u16'
    ? new Float32Array(Uint32Array.from(t.data as Uint16Array, (u) => u << 16).buffer)
    : (t.data as Float32Array);

/**
 * Adam's per-coordinate ratio |m|/(√v + ε) of the first layer (in its eigenbasis): RMS, and the share of
 * coordinates above 1.01. With β1² ≤ β2 and m, v averaged over the same gradients the ratio is ≤ 1 (Cauchy–
 * Schwarz); a larger one means m and v belong to different bases (m was rotated at a refresh, v was not).
 */
function adamRatio(v: Variant): { rms: number; over: number } {
  const core = v.optimizer.coreOptimizer;
  if (!core) return { rms: 0, over: 0 };
  const tensors = core.stateDict().tensors.filter((t) => t.param === 0);
  const m = tensors.find((t) => t.name === 'exp_avg');
  const s = tensors.find((t) => t.name === 'exp_avg_sq');
  if (!m || !s) return { rms: 0, over: 0 };
  const mv = decode(m);
  const sv = decode(s);
  let sum = 0;
  let over = 0;
  for (let i = 0; i < mv.length; i++) {
    const r = Math.abs(mv[i]) / (Math.sqrt(sv[i]) + 1e-8);
    sum += r * r;
    if (r > 1.01) over++;
  }
  return { rms: Math.sqrt(sum / mv.length), over: over / mv.length };
}

const header = [
  'step',
  ...variants.map((v) => `loss ${v.label}`),
  ...variants.slice(1).map((v) => `dist ${v.label}`),
];
header.push(...variants.slice(1).map((v) => `moved ${v.label}`));
header.push(...variants.map((v) => `dead ${v.label}`));
header.push(...variants.map((v) => `adam ${v.label}`), ...variants.map((v) => `over1 ${v.label}`));
console.log(
  `${method}, lr ${lr}, seed ${seed}, batch ${batchSize}, engine ${engine}, extra ${JSON.stringify(extra)}; ` +
    `dist = |θ − θ_${variants[0].label}| / |θ_${variants[0].label} − θ₀|; moved = |θ − θ₀| / |θ_${variants[0].label} − θ₀|; dead = share of layer-1 movement in never-lit pixel rows`,
);
console.log(`| ${header.join(' | ')} |`);
console.log(`|${header.map(() => '---:').join('|')}|`);
const rows: Record<string, number>[] = [];
for (let step = 1; step <= steps; step++) {
  const losses: number[] = [];
  for (const [i, v] of variants.entries()) {
    const batch = v.run.nextBatch();
    if (i === 0) {
      const x = batch.inputs.dataSync();
      for (let r = 0; r < x.length / inputDim; r++)
        for (let c = 0; c < inputDim; c++) lit[c] += Math.abs(x[r * inputDim + c]);
    }
    const { value, grads } = tf.variableGrads(() => v.run.loss(batch), v.variables);
    losses.push(value.dataSync()[0]);
    v.optimizer.applyGradients(v.variables.map((w) => ({ name: w.name, tensor: grads[w.name] })));
    tf.dispose([value, batch.inputs, batch.targets, ...Object.values(grads)]);
    v.params = v.variables.map((w) => w.dataSync() as Float32Array);
  }
  const ref = variants[0].params;
  const moved = distance(ref, initial);
  const row: Record<string, number> = { step };
  variants.forEach((v, i) => {
    row[`loss ${v.label}`] = losses[i];
  });
  for (const v of variants.slice(1)) row[`dist ${v.label}`] = moved > 0 ? distance(v.params, ref) / moved : 0;
  for (const v of variants.slice(1))
    row[`moved ${v.label}`] = moved > 0 ? distance(v.params, initial) / moved : 0;
  for (const v of variants) {
    const all = distance(v.params.slice(0, 1), initial.slice(0, 1));
    const dead = distance(v.params.slice(0, 1), initial.slice(0, 1), (r) => lit[r] === 0);
    row[`dead ${v.label}`] = all > 0 ? (dead / all) ** 2 : 0;
  }
  for (const v of variants) {
    const a = adamRatio(v);
    row[`adam ${v.label}`] = a.rms;
    row[`over1 ${v.label}`] = a.over;
  }
  rows.push(row);
  if (step % every === 0 || step <= 20) {
    const cells = header
      .slice(1)
      .map((h) => (h.startsWith('loss') ? row[h].toFixed(5) : row[h].toExponential(2)));
    console.log(`| ${step} | ${cells.join(' | ')} |`);
  }
}
console.log(`never-lit pixels after ${steps} batches: ${lit.filter((x) => x === 0).length} of ${inputDim}`);
if (values.json)
  writeFileSync(values.json, `${JSON.stringify({ method, lr, seed, extra, rows }, null, 1)}\n`);
for (const v of variants) {
  v.optimizer.dispose();
  v.run.dispose();
}
