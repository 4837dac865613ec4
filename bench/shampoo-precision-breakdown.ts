// Step time of Shampoo's low-bit form (the 4-bit paper's algorithm) under each storage precision, split into
// its three kinds of step and recombined for any refresh schedule: a plain step (precondition + AdamW), a
// statistics step (+ T1 update) and a statistics-and-root step (+ T2 root). Every precision runs T1 = 2,
// T2 = 4 side by side, one 4-step round after the other, so the machine's load drifts over all of them alike;
// the medians give `amortized(T1, T2) = plain + (stats − plain)/T1 + (roots − stats)/T2` and its ratio to fp32.
// Run with `node --import tsx bench/shampoo-precision-breakdown.ts`; options:
//   --shape 1024x1024  --rounds 5  --precisions fp32,bf16,4bit,bf16-naive,4bit-naive  --engine auto
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { EngineChoice } from '../src/kernels/index.ts';
import { Shampoo } from '../src/optimizers/shampoo.ts';
import type { Precision } from '../src/storage/precision.ts';

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: '1024x1024' },
    rounds: { type: 'string', default: '5' },
    precisions: { type: 'string', default: 'fp32,bf16,4bit,bf16-naive,4bit-naive' },
    engine: { type: 'string', default: 'auto' },
  },
});
const [m, n] = values.shape.split('x').map(Number);
const rounds = Math.max(1, Number(values.rounds));
const precisions = values.precisions.split(',') as Precision[];
if (precisions[0] !== 'fp32') precisions.unshift('fp32');

let seed = 0x2545f491;
const next = () => {
  seed ^= seed << 13;
  seed ^= seed >>> 17;
  seed ^= seed << 5;
  return (seed >>> 0) / 4294967296 - 0.5;
};
const grads = [0, 1, 2].map(() => Float32Array.from({ length: m * n }, next));
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

const runs = precisions.map((precision) => {
  const opt = new Shampoo([{ data: new Float32Array(m * n).fill(0.01), shape: [m, n] }], {
    variant: 'lowbit',
    statComputeSteps: 2,
    precComputeSteps: 4,
    precision,
    engine: values.engine as EngineChoice,
  });
  let call = 0;
  const step = () => {
    const t0 = performance.now();
    opt.step([grads[call++ % grads.length]]);
    return performance.now() - t0;
  };
  // One warm-up round (first allocations, JIT).
  for (let i = 0; i < 4; i++) step();
  return {
    precision,
    engine: opt.engine,
    step,
    plain: [] as number[],
    stats: [] as number[],
    roots: [] as number[],
  };
});
for (let r = 0; r < rounds; r++) {
  for (let i = 0; i < runs.length; i++) {
    const run = runs[(i + r) % runs.length];
    // Calls 4r+1 … 4r+4: plain, statistics, plain, statistics + root.
    run.plain.push(run.step());
    run.stats.push(run.step());
    run.plain.push(run.step());
    run.roots.push(run.step());
  }
}

console.log('# Shampoo low-bit form: step time by precision, split and re-amortized');
console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} ×${cpus().length}, load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}, weight ${m}×${n}, rounds ${rounds}\n`,
);
const SCHEDULES: [number, number][] = [
  [10, 10],
  [100, 500],
];
console.log(
  `| precision | engine | plain (ms) | + T1 statistics (ms) | + T2 root (ms) | ${SCHEDULES.map(([a, b]) => `T1=${a}, T2=${b}: ms / ratio`).join(' | ')} |`,
);
console.log(`|---|---|---:|---:|---:|${SCHEDULES.map(() => '---:').join('|')}|`);
const amortized = (run: (typeof runs)[number], t1: number, t2: number) => {
  const plain = median(run.plain);
  const stats = median(run.stats);
  const roots = median(run.roots);
  return plain + (stats - plain) / t1 + (roots - stats) / t2;
};
for (const run of runs) {
  const plain = median(run.plain);
  const stats = median(run.stats);
  const roots = median(run.roots);
  const cells = SCHEDULES.map(([t1, t2]) => {
    const a = amortized(run, t1, t2);
    return `${a.toFixed(1)} / ${(a / amortized(runs[0], t1, t2)).toFixed(3)}`;
  });
  console.log(
    `| ${run.precision} | ${run.engine} | ${plain.toFixed(1)} | ${(stats - plain).toFixed(1)} | ${(roots - stats).toFixed(1)} | ${cells.join(' | ')} |`,
  );
}
