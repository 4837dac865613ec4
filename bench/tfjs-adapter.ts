// What the tfjs adapter costs per step: moving gradients and parameters between tfjs and the core
// (`dataSync` of every gradient, `assign(tf.tensor(...))` of every updated parameter) against
// the core optimizer's own step on the same parameters. Prints the machine and one markdown table of medians.
//
//   node --import tsx bench/tfjs-adapter.ts [--quick]
import { createRequire } from 'node:module';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import type { Optimizer } from '../src/optimizers/optimizer.ts';
import { adamw, type ShampooTsOptimizer, soap } from '../src/tfjs/index.ts';

const quick = process.argv.includes('--quick');
const require = createRequire(import.meta.url);
setWasmPaths(`${join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist')}/`);

/** Parameter shapes of the benchmarked models (dense kernels and biases). */
const MODELS: Record<string, number[][]> = {
  'mlp 784-64-10': [[784, 64], [64], [64, 10], [10]],
  'mlp 512-512-512-10': [[512, 512], [512], [512, 512], [512], [512, 10], [10]],
};
const METHODS: Record<string, () => ShampooTsOptimizer> = {
  adamw: () => adamw({ lr: 1e-3 }),
  soap: () => soap({ lr: 3e-3, preconditionFrequency: 10, maxPrecondDim: 1024 }),
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Times `fn` `runs` times after `warmup` calls; returns the median in ms. */
function time(fn: () => void, runs: number, warmup = 3): number {
  for (let i = 0; i < warmup; i++) fn();
  const ts: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

interface Row {
  backend: string;
  model: string;
  params: number;
  method: string;
  adapterMs: number;
  coreMs: number;
  overheadMs: number;
  readMs: number;
  writeMs: number;
}

async function benchBackend(backend: string, rows: Row[]): Promise<void> {
  await tf.setBackend(backend);
  await tf.ready();
  for (const [model, shapes] of Object.entries(MODELS)) {
    const numel = shapes.reduce((s, sh) => s + sh.reduce((a, b) => a * b, 1), 0);
    const vars = shapes.map((sh, i) => tf.variable(tf.randomNormal(sh, 0, 0.05, 'float32', i + 1)));
    const grads = shapes.map((sh, i) => tf.randomNormal(sh, 0, 1e-2, 'float32', 100 + i));
    const named = vars.map((v, i) => ({ name: v.name, tensor: grads[i] }));
    // The transfer primitives alone, as the adapter performs them once per parameter per step.
    const readMs = time(
      () => {
        for (let i = 0; i < vars.length; i++) grads[i].dataSync();
      },
      quick ? 5 : 20,
    );
    const copies = vars.map((v) => (v.dataSync() as Float32Array).slice());
    const writeMs = time(
      () => {
        tf.tidy(() => {
          vars.forEach((v, i) => {
            v.assign(tf.tensor(copies[i].slice(), v.shape, 'float32'));
          });
        });
      },
      quick ? 5 : 20,
    );
    for (const [method, make] of Object.entries(METHODS)) {
      const opt = make();
      opt.applyGradients(named); // creates the core optimizer
      // Time the core's step inside each adapter step, so the overhead of a step is measured within that
      // same step (immune to load changing between separate runs).
      const core = opt.coreOptimizer as Optimizer;
      const innerStep = core.step.bind(core);
      let coreTime = 0;
      core.step = (g) => {
        const t0 = performance.now();
        innerStep(g);
        coreTime = performance.now() - t0;
      };
      const totals: number[] = [];
      const cores: number[] = [];
      const overheads: number[] = [];
      const runs = quick ? 10 : 30;
      for (let i = 0; i < runs + 2; i++) {
        const t0 = performance.now();
        opt.applyGradients(named);
        const total = performance.now() - t0;
        if (i < 2) continue;
        totals.push(total);
        cores.push(coreTime);
        overheads.push(total - coreTime);
      }
      rows.push({
        backend,
        model,
        params: numel,
        method,
        adapterMs: median(totals),
        coreMs: median(cores),
        overheadMs: median(overheads),
        readMs,
        writeMs,
      });
      opt.dispose();
    }
    tf.dispose([...vars, ...grads]);
  }
}

const rows: Row[] = [];
for (const backend of ['cpu', 'wasm']) await benchBackend(backend, rows);
console.log(
  `machine: ${cpus()[0]?.model} × ${cpus().length}, Node ${process.version}, load ${loadavg()[0].toFixed(2)}`,
);
console.log('');
console.log(
  '| backend | model | params | method | adapter step (ms) | core step (ms) | transfer overhead (ms) | overhead share | read: dataSync grads (ms) | write: assign (ms) |',
);
console.log('|---|---|---:|---|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const over = r.overheadMs;
  console.log(
    `| ${r.backend} | ${r.model} | ${r.params.toLocaleString('en-US')} | ${r.method} | ${r.adapterMs.toFixed(2)} | ${r.coreMs.toFixed(2)} | ${over.toFixed(2)} | ${((100 * over) / (r.coreMs + over)).toFixed(0)}% | ${r.readMs.toFixed(2)} | ${r.writeMs.toFixed(2)} |`,
  );
}
