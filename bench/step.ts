// Optimizer step benchmark: for each method and weight shape, the first call (which builds the
// preconditioners), the median step time amortized over one refresh period, and stateBytes(). Prints the
// machine and one markdown table. Run with `npm run bench:step`; options:
//   --shapes 1024x1024,4096x1024   weight shapes (rows x cols)
//   --methods adamw,soap,soap:4bit  a subset of the method keys below (`method:precision` for a storage precision)
//   --rounds 3                      refresh periods timed per case (the median is reported)
//   --engine auto                   kernel engine
import { cpus, loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import type { EngineChoice } from '../src/kernels/index.ts';
import { AdamW } from '../src/optimizers/adamw.ts';
import type { KLConfig } from '../src/optimizers/kl-optimizer.ts';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import type { Optimizer, Param } from '../src/optimizers/optimizer.ts';
import { Shampoo } from '../src/optimizers/shampoo.ts';
import { SOAP, type SOAPConfig } from '../src/optimizers/soap.ts';

interface BenchMethod {
  key: string;
  label: string;
  /** Steps per refresh period: the unit the step time is amortized over. */
  period: number;
  create(params: Param[], engine: EngineChoice): Optimizer;
}

/** The eigenbasis methods, to which the storage precisions below add their rows. */
const METHODS_BY_KEY = {
  soap: {
    label: 'SOAP fp32, f=10',
    create: (p: Param[], engine: EngineChoice, extra: SOAPConfig = {}) =>
      new SOAP(p, { preconditionFrequency: 10, engine, ...extra }),
  },
  'kl-shampoo': {
    label: 'KL-Shampoo fp32, f=10',
    create: (p: Param[], engine: EngineChoice, extra: KLConfig = {}) =>
      new KLShampoo(p, { preconditionFrequency: 10, engine, ...extra }),
  },
  'kl-soap': {
    label: 'KL-SOAP fp32, f=10',
    create: (p: Param[], engine: EngineChoice, extra: KLConfig = {}) =>
      new KLSOAP(p, { preconditionFrequency: 10, engine, ...extra }),
  },
};

/** One line per method; a new optimizer is benchmarked by adding its line here. */
const METHODS: BenchMethod[] = [
  { key: 'adamw', label: 'AdamW', period: 1, create: (p, engine) => new AdamW(p, { engine }) },
  {
    key: 'soap',
    label: 'SOAP fp32, f=10',
    period: 10,
    create: (p, engine) => new SOAP(p, { preconditionFrequency: 10, engine }),
  },
  {
    key: 'kl-shampoo',
    label: 'KL-Shampoo fp32, f=10',
    period: 10,
    create: (p, engine) => new KLShampoo(p, { preconditionFrequency: 10, engine }),
  },
  {
    key: 'kl-soap',
    label: 'KL-SOAP fp32, f=10',
    period: 10,
    create: (p, engine) => new KLSOAP(p, { preconditionFrequency: 10, engine }),
  },
  {
    key: 'shampoo',
    label: 'Shampoo fp32, f=10',
    period: 10,
    create: (p, engine) => new Shampoo(p, { preconditionFrequency: 10, engine }),
  },
  {
    key: 'shampoo-lowbit',
    label: 'Shampoo (4-bit paper form) fp32, T1=T2=10',
    period: 10,
    create: (p, engine) =>
      new Shampoo(p, { variant: 'lowbit', statComputeSteps: 10, precComputeSteps: 10, engine }),
  },
  // Storage precisions of Shampoo (keys `shampoo:precision`, `shampoo-lowbit:precision`).
  ...(['bf16', '4bit', 'bf16-naive', '4bit-naive'] as const).flatMap((precision) => [
    {
      key: `shampoo:${precision}`,
      label: `Shampoo ${precision}, f=10`,
      period: 10,
      create: (p: Param[], engine: EngineChoice) =>
        new Shampoo(p, { preconditionFrequency: 10, precision, engine }),
    },
    {
      key: `shampoo-lowbit:${precision}`,
      label: `Shampoo (4-bit paper form) ${precision}, T1=T2=10`,
      period: 10,
      create: (p: Param[], engine: EngineChoice) =>
        new Shampoo(p, { variant: 'lowbit', statComputeSteps: 10, precComputeSteps: 10, precision, engine }),
    },
  ]),
  // Storage precisions of the eigenbasis methods (keys `method:precision`, e.g. `soap:4bit`).
  ...(['soap', 'kl-shampoo', 'kl-soap'] as const).flatMap((key) =>
    (['bf16', '4bit', 'bf16-naive', '4bit-naive'] as const).map((precision) => {
      const base = METHODS_BY_KEY[key];
      return {
        key: `${key}:${precision}`,
        label: base.label.replace('fp32', precision),
        period: 10,
        create: (p: Param[], engine: EngineChoice) => base.create(p, engine, { precision }),
      };
    }),
  ),
];

const { values } = parseArgs({
  options: {
    shapes: { type: 'string', default: '1024x1024,4096x1024' },
    methods: { type: 'string', default: METHODS.map((m) => m.key).join(',') },
    rounds: { type: 'string', default: '3' },
    engine: { type: 'string', default: 'auto' },
  },
});

const shapes = values.shapes.split(',').map((s) => s.split('x').map(Number) as [number, number]);
const wanted = new Set(values.methods.split(','));
const rounds = Math.max(1, Number(values.rounds));
const engine = values.engine as EngineChoice;

/** Deterministic pseudo-random gradients (a few, cycled) so every method sees the same inputs. */
function makeGradients(numel: number, count: number): Float32Array[] {
  let state = 0x2545f491;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296 - 0.5;
  };
  return Array.from({ length: count }, () => Float32Array.from({ length: numel }, next));
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

const MiB = 1024 * 1024;
const rows: string[] = [];
console.log(`# optimizer step benchmark`);
console.log(
  `node ${process.version}, ${cpus()[0]?.model ?? 'unknown cpu'} ×${cpus().length}, load ${loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}, rounds ${rounds}\n`,
);
for (const [m, n] of shapes) {
  const grads = makeGradients(m * n, 3);
  for (const method of METHODS.filter((x) => wanted.has(x.key))) {
    const param: Param = { data: new Float32Array(m * n).fill(0.01), shape: [m, n] };
    const opt = method.create([param], engine);
    let call = 0;
    const step = () => opt.step([grads[call++ % grads.length]]);
    let t0 = performance.now();
    step();
    const first = performance.now() - t0;
    // Align to the start of a refresh period, so each timed window holds exactly one refresh.
    while (method.period > 1 && call % method.period !== 1) step();
    const perStep: number[] = [];
    for (let r = 0; r < rounds; r++) {
      t0 = performance.now();
      for (let s = 0; s < method.period; s++) step();
      perStep.push((performance.now() - t0) / method.period);
    }
    const bytes = opt.stateBytes().total;
    const row = `| ${method.label} | ${m}×${n} | ${opt.engine} | ${first.toFixed(1)} | ${median(perStep).toFixed(1)} | ${(bytes / MiB).toFixed(2)} (${bytes}) |`;
    rows.push(row);
    console.error(row);
  }
}
console.log('| method | weight | engine | first step (ms) | step, amortized (ms) | state MiB (bytes) |');
console.log('|---|---|---|---:|---:|---:|');
for (const r of rows) console.log(r);
