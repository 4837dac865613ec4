// Optimizer state of one weight matrix per method × storage precision: `stateBytes()` beside the analytic
// count of bench/state-formulas.ts (docs/storage.md §5), by kind, and the whole arena the optimizer holds
// (state + scratch). Prints one markdown table, then the ratios the storage layer is measured against.
// Run with `npm run bench:memory`; options: --shapes 1024x1024,4096x1024
import { parseArgs } from 'node:util';
import type { Kernels } from '../src/kernels/index.ts';
import { AdamW } from '../src/optimizers/adamw.ts';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import type { Optimizer, Param, StateBytes } from '../src/optimizers/optimizer.ts';
import { Shampoo } from '../src/optimizers/shampoo.ts';
import type { ShampooConfig } from '../src/optimizers/shampoo-config.ts';
import { SOAP } from '../src/optimizers/soap.ts';
import { PRECISIONS } from '../src/storage/precision.ts';
import { shampooStateBytes } from './shampoo-state-formulas.ts';
import { type Bytes, type StorageFormulaOptions, stateBytes, total } from './state-formulas.ts';

interface Row {
  label: string;
  create(params: Param[]): Optimizer;
  /** The analytic count, or null where none is written down. */
  analytic(m: number, n: number): Bytes | null;
}

const ENGINE = { engine: 'typescript' } as const;

/** Every row of the table; a method (or another precision) is added with one line. */
const ROWS: Row[] = [
  {
    label: 'AdamW',
    create: (p) => new AdamW(p, ENGINE),
    analytic: (m, n) => stateBytes('adamw', m, n, { precision: 'fp32' }),
  },
  ...PRECISIONS.flatMap((precision) =>
    (
      [
        ['SOAP', 'soap', (p: Param[], c: object) => new SOAP(p, c)],
        ['KL-SOAP', 'kl-soap', (p: Param[], c: object) => new KLSOAP(p, c)],
        ['KL-Shampoo', 'kl-shampoo', (p: Param[], c: object) => new KLShampoo(p, c)],
      ] as const
    ).flatMap(([title, key, make]) =>
      (precision === 'fp32' ? [{}] : [{}, { momentPrecision: 'fp32' as const }]).map((extra) => ({
        label: `${title} ${precision}${'momentPrecision' in extra ? ', fp32 moments' : ''}`,
        create: (p: Param[]) => make(p, { ...ENGINE, precision, ...extra }),
        analytic: (m: number, n: number) =>
          stateBytes(key, m, n, { precision, ...extra } as StorageFormulaOptions),
      })),
    ),
  ),
  // Shampoo, both forms (docs/storage.md, Shampoo section; formulas in bench/shampoo-state-formulas.ts). A
  // weight larger than the max order is blocked, for which no formula is written down.
  ...PRECISIONS.flatMap((precision) =>
    (
      [
        ['Shampoo', 'distributed', { graftingConfig: { type: 'adam' } }, { grafting: true }],
        ['Shampoo lowbit', 'lowbit', { variant: 'lowbit' }, {}],
      ] as const
    ).flatMap(([title, variant, config, formula]) =>
      (precision === 'fp32' ? [{}] : [{}, { momentPrecision: 'fp32' as const }]).map((extra) => ({
        label: `${title} ${precision}${'momentPrecision' in extra ? ', fp32 moments' : ''}`,
        create: (p: Param[]) =>
          new Shampoo(p, { ...ENGINE, ...config, precision, ...extra } as ShampooConfig),
        analytic: (m: number, n: number) =>
          Math.max(m, n) > (variant === 'lowbit' ? 1200 : 1024)
            ? null
            : shampooStateBytes(variant, m, n, { precision, ...extra }, formula),
      })),
    ),
  ),
];

const { values } = parseArgs({ options: { shapes: { type: 'string', default: '1024x1024,4096x1024' } } });
const shapes = values.shapes.split(',').map((s) => s.split('x').map(Number) as [number, number]);

const MiB = 1024 * 1024;
const mib = (b: number) => (b / MiB).toFixed(3);
const KINDS = ['moment', 'grafting', 'factor', 'basis', 'root', 'eigenvalues', 'scales', 'counter'] as const;

const measured = new Map<string, StateBytes>();
console.log('# optimizer state per weight matrix (bytes; MiB = 2^20 bytes)\n');
console.log(
  `| weight | method, precision | stateBytes() | analytic | equal | MiB | ${KINDS.join(' | ')} | arena: state + scratch (MiB) |`,
);
console.log(`|---|---|---:|---:|:-:|---:|${KINDS.map(() => '---:').join('|')}|---:|`);
for (const [m, n] of shapes) {
  for (const row of ROWS) {
    const opt = row.create([{ data: new Float32Array(m * n), shape: [m, n] }]);
    const got = opt.stateBytes();
    measured.set(`${m}x${n} ${row.label}`, got);
    const analytic = row.analytic(m, n);
    const expected = analytic === null ? null : total(analytic);
    const arena = (opt as unknown as { kernels: Kernels }).kernels.arena.used;
    const kinds = KINDS.map((k) => got.byKind[k] ?? 0).join(' | ');
    console.log(
      `| ${m}×${n} | ${row.label} | ${got.total} | ${expected ?? '—'} | ${expected === null ? 'n/a (blocked)' : expected === got.total ? '✓' : '✗'} | ${mib(got.total)} | ${kinds} | ${mib(arena)} |`,
    );
  }
}

/** The storage layer's targets at the first shape. */
const [m0, n0] = shapes[0];
const at = (label: string) => measured.get(`${m0}x${n0} ${label}`) as StateBytes;
const precond = (s: StateBytes) => total({ ...s.byKind, moment: 0, counter: 0 });
/** Shampoo's preconditioner: everything but the moments, the grafting accumulator and the counters. */
const shampooPrecond = (s: StateBytes) => total({ ...s.byKind, moment: 0, grafting: 0, counter: 0 });
const adamw = at('AdamW').total;
const checks: [string, number, string][] = [
  [
    '4-bit SOAP preconditioner (bases, eigenvalues, scales, off-diagonal) / fp32 SOAP factors + bases',
    precond(at('SOAP 4bit')) / precond(at('SOAP fp32')),
    '≤ 1/6',
  ],
  ['4-bit SOAP total, fp32 moments / AdamW', at('SOAP 4bit, fp32 moments').total / adamw, '≤ 1.25'],
  ['4-bit SOAP total, bf16 moments (auto) / AdamW', at('SOAP 4bit').total / adamw, '≤ 0.75'],
  ['bf16 SOAP total / fp32 SOAP total', at('SOAP bf16').total / at('SOAP fp32').total, '≤ 0.55'],
  [
    '4-bit Shampoo lowbit preconditioner / fp32 (ALGORITHMS.md §5.6: ≈ 1/7)',
    shampooPrecond(at('Shampoo lowbit 4bit')) / shampooPrecond(at('Shampoo lowbit fp32')),
    '≤ 1/6',
  ],
  [
    '4-bit Shampoo (distributed) preconditioner / fp32',
    shampooPrecond(at('Shampoo 4bit')) / shampooPrecond(at('Shampoo fp32')),
    '≤ 1/4',
  ],
  ['bf16 Shampoo (distributed) total / fp32 total', at('Shampoo bf16').total / at('Shampoo fp32').total, '—'],
];
console.log(`\n| at ${m0}×${n0} | ratio | target |\n|---|---:|---|`);
for (const [what, ratio, target] of checks) console.log(`| ${what} | ${ratio.toFixed(3)} | ${target} |`);
