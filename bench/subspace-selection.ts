// How the 'bf16' store's subspace refresh should pick its k basis vectors (ALGORITHMS.md §6.2 leaves it
// open): SOAP and KL-SOAP in bf16 with each selection rule and several k, against fp32, on the Kronecker
// problem of bench/kronecker-problem.ts in three regimes: bases starting at the identity (so the refreshes
// must find the eigenbases: noise-free, then noisy), and noisy gradients with eigenbases that drift. Each cell is the geometric mean over seeds of the final loss divided by fp32's (1 = as fp32;
// lower is better). Run with `node --import tsx bench/subspace-selection.ts` (a few minutes; --steps, --seeds).
import { parseArgs } from 'node:util';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import type { Optimizer, Param } from '../src/optimizers/optimizer.ts';
import { SOAP } from '../src/optimizers/soap.ts';
import { KroneckerProblem, type ProblemOptions, runProblem } from './kronecker-problem.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '300' },
    seeds: { type: 'string', default: '3' },
    m: { type: 'string', default: '96' },
    n: { type: 'string', default: '64' },
  },
});
const steps = Number(values.steps);
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => 101 + i);
const m = Number(values.m);
const n = Number(values.n);

/** `identity`: the bases start at I (initialBasis 'identity'), so the refreshes must find the eigenbases. */
const REGIMES: { name: string; options: Omit<ProblemOptions, 'seed'>; identity: boolean }[] = [
  { name: 'identity start', options: { m, n, smallest: 1e-3 }, identity: true },
  { name: 'identity start, noisy', options: { m, n, smallest: 1e-3, noise: 1 }, identity: true },
  { name: 'noisy + drift', options: { m, n, smallest: 1e-3, noise: 1, drift: 0.01 }, identity: false },
];

const METHODS: { name: string; lr: number; make: (p: Param[], c: Record<string, unknown>) => Optimizer }[] = [
  { name: 'SOAP', lr: 1e-1, make: (p, c) => new SOAP(p, c) },
  { name: 'KL-SOAP', lr: 1e-1, make: (p, c) => new KLSOAP(p, c) },
];

const RULES = ['offdiag-energy', 'round-robin', 'top-k'] as const;
const KS = [8, 16, 32, Number.POSITIVE_INFINITY];

function finalLoss(
  method: (typeof METHODS)[number],
  regime: (typeof REGIMES)[number],
  seed: number,
  extra: object,
) {
  const problem = new KroneckerProblem({ ...regime.options, seed });
  const param: Param = { data: problem.start.slice(), shape: [m, n] };
  const opt = method.make([param], {
    lr: method.lr,
    preconditionFrequency: 10,
    initialBasis: regime.identity ? 'identity' : 'eigh',
    ...extra,
  });
  return runProblem(
    problem,
    (w, g) => {
      param.data.set(w);
      opt.step([g]);
      w.set(param.data);
    },
    steps,
  );
}

const geomean = (xs: number[]) => Math.exp(xs.reduce((a, x) => a + Math.log(x), 0) / xs.length);

console.log(
  `# subspace selection: final loss / fp32 (geometric mean over ${seeds.length} seeds), ${m}×${n}, ${steps} steps\n`,
);
console.log(
  `| method | regime | fp32 loss | rule | ${KS.map((k) => `k = ${Number.isFinite(k) ? k : 'd'}`).join(' | ')} |`,
);
console.log(`|---|---|---:|---|${KS.map(() => '---:').join('|')}|`);
for (const method of METHODS) {
  for (const regime of REGIMES) {
    const fp32 = seeds.map((s) => finalLoss(method, regime, s, { precision: 'fp32' }));
    for (const rule of RULES) {
      const cells = KS.map((k) => {
        const ratios = seeds.map(
          (s, i) =>
            finalLoss(method, regime, s, { precision: 'bf16', subspaceSize: k, subspaceSelection: rule }) /
            fp32[i],
        );
        return geomean(ratios).toFixed(3);
      });
      console.log(
        `| ${method.name} | ${regime.name} | ${geomean(fp32).toExponential(3)} | ${rule} | ${cells.join(' | ')} |`,
      );
    }
  }
}
