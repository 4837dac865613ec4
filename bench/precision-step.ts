// Step time of the storage precisions against fp32, measured side by side: every optimizer of one method
// (fp32 first) runs one refresh period in turn, round after round, so the machine's load drifts over all of
// them alike. The table gives the median amortized step per precision (wall clock, and the CPU time of this
// process), the amortized step built from the fastest plain and the fastest refresh step (the estimate other
// processes on a shared machine disturb least), and their ratios to fp32.
// Run with `node --import tsx bench/precision-step.ts`; options:
//   --shape 1024x1024            weight shape (rows x cols)
//   --methods soap,kl-soap,kl-shampoo (also shampoo, shampoo-lowbit)
//   --precisions fp32,bf16,4bit  (fp32 is always included, as the reference)
//   --rounds 5                   refresh periods timed per optimizer
//   --frequency 10               preconditionFrequency (steps per period)
//   --engine auto
//   --extra '{"rectT2":2}'       JSON merged into the configs of the low precisions
//   --variant '{"rectTol":0}'    also run every low precision with this JSON merged in (same process, interleaved)
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { EngineChoice } from '../src/kernels/index.ts';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import type { Optimizer, Param } from '../src/optimizers/optimizer.ts';
import { Shampoo } from '../src/optimizers/shampoo.ts';
import { SOAP } from '../src/optimizers/soap.ts';
import type { Precision } from '../src/storage/precision.ts';

const { values } = parseArgs({
  options: {
    shape: { type: 'string', default: '1024x1024' },
    methods: { type: 'string', default: 'soap,kl-soap,kl-shampoo' },
    precisions: { type: 'string', default: 'fp32,bf16,4bit' },
    rounds: { type: 'string', default: '5' },
    frequency: { type: 'string', default: '10' },
    engine: { type: 'string', default: 'auto' },
    // JSON merged into the low-precision configs, e.g. '{"rectT2":2}'
    extra: { type: 'string', default: '{}' },
    // JSON for a second run of every low precision, e.g. '{"rectTol":0}'
    variant: { type: 'string' },
  },
});
const extra = JSON.parse(values.extra) as Record<string, unknown>;
const variant = values.variant ? (JSON.parse(values.variant) as Record<string, unknown>) : null;
const [m, n] = values.shape.split('x').map(Number);
const rounds = Math.max(1, Number(values.rounds));
const frequency = Number(values.frequency);
const engine = values.engine as EngineChoice;
const precisions = ['fp32', ...values.precisions.split(',').filter((p) => p !== 'fp32')] as Precision[];

type Make = (p: Param[], precision: Precision, more?: Record<string, unknown>) => Optimizer;
/** The options every optimizer gets, plus `--extra` (and a variant's options) for the low precisions. */
const common = (precision: Precision, more: Record<string, unknown> = {}) => ({
  precision,
  engine,
  ...(precision === 'fp32' ? {} : { ...extra, ...more }),
});
const MAKERS: Record<string, Make> = {
  soap: (p, precision, more) => new SOAP(p, { preconditionFrequency: frequency, ...common(precision, more) }),
  'kl-soap': (p, precision, more) =>
    new KLSOAP(p, { preconditionFrequency: frequency, ...common(precision, more) }),
  'kl-shampoo': (p, precision, more) =>
    new KLShampoo(p, { preconditionFrequency: frequency, ...common(precision, more) }),
  shampoo: (p, precision, more) =>
    new Shampoo(p, { preconditionFrequency: frequency, ...common(precision, more) }),
  // The 4-bit paper's form, statistics and roots every `frequency` steps.
  'shampoo-lowbit': (p, precision, more) =>
    new Shampoo(p, {
      variant: 'lowbit',
      statComputeSteps: frequency,
      precComputeSteps: frequency,
      ...common(precision, more),
    }),
};

function gradients(count: number): Float32Array[] {
  let state = 0x2545f491;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296 - 0.5;
  };
  return Array.from({ length: count }, () => Float32Array.from({ length: m * n }, next));
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
};

console.log('# storage precisions: amortized step time, side by side');
console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} ×${cpus().length}, load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(
      ' ',
    )}, weight ${m}×${n}, preconditionFrequency ${frequency}, rounds ${rounds}, extra ${values.extra}\n`,
);
console.log(
  '| method | precision | engine | wall, median (ms) | CPU, median (ms) | from minima (ms) | wall median / fp32 | CPU median / fp32 | from minima / fp32 |',
);
console.log('|---|---|---|---:|---:|---:|---:|---:|---:|');
const grads = gradients(3);
for (const method of values.methods.split(',')) {
  const make = MAKERS[method];
  if (!make) throw new Error(`unknown method '${method}'`);
  // Every precision, then (with --variant) every low precision once more with the variant's options.
  const configs: { precision: Precision; label: string; more: Record<string, unknown> }[] = [
    ...precisions.map((precision) => ({ precision, label: precision as string, more: {} })),
    ...(variant
      ? precisions
          .filter((p) => p !== 'fp32')
          .map((precision) => ({
            precision,
            label: `${precision}, ${Object.entries(variant)
              .map(([key, value]) => `${key} ${JSON.stringify(value)}`)
              .join(', ')}`,
            more: variant,
          }))
      : []),
  ];
  const runs = configs.map(({ precision, label, more }) => {
    const opt = make([{ data: new Float32Array(m * n).fill(0.01), shape: [m, n] }], precision, more);
    let call = 0;
    const step = () => opt.step([grads[call++ % grads.length]]);
    step();
    // Align to the start of a refresh period, so each timed period holds exactly one refresh.
    while (call % frequency !== 1) step();
    return {
      label,
      opt,
      step,
      times: [] as number[],
      cpu: [] as number[],
      plain: [] as number[],
      refresh: [] as number[],
    };
  });
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < runs.length; i++) {
      const run = runs[(i + r) % runs.length];
      const t0 = performance.now();
      const c0 = process.cpuUsage();
      for (let s = 0; s < frequency; s++) {
        const ts = performance.now();
        run.step();
        // The period starts right after a refresh, so its last step is the refresh step.
        (s === frequency - 1 ? run.refresh : run.plain).push(performance.now() - ts);
      }
      const c = process.cpuUsage(c0);
      run.times.push((performance.now() - t0) / frequency);
      run.cpu.push((c.user + c.system) / 1000 / frequency);
    }
  }
  // Amortized step from the fastest plain step and the fastest refresh step seen: interference from other
  // processes only ever adds time, so the minima are the least disturbed estimate.
  const fromMinima = (run: (typeof runs)[number]) =>
    ((frequency - 1) * Math.min(...run.plain) + Math.min(...run.refresh)) / frequency;
  const ref = runs[0];
  for (const run of runs) {
    const med = median(run.times);
    const cpu = median(run.cpu);
    const mins = fromMinima(run);
    console.log(
      `| ${method} | ${run.label} | ${run.opt.engine} | ${med.toFixed(1)} | ${cpu.toFixed(1)} | ${mins.toFixed(1)} | ${(med / median(ref.times)).toFixed(3)} | ${(cpu / median(ref.cpu)).toFixed(3)} | ${(mins / fromMinima(ref)).toFixed(3)} |`,
    );
  }
}
