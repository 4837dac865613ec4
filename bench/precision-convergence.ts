// Does each storage precision track fp32? Every method × precision on the Kronecker problem of
// bench/kronecker-problem.ts, in four regimes: stochastic gradients (noise 1, eigenvalues 10…10⁻² per side,
// the loss settles on a noise floor); noise-free (10…10⁻², then very ill-conditioned 10…10⁻⁴ per side, where
// bf16 storage of a dense factor loses the small eigenvalues); noise-free with a slow factor EMA
// (shampooBeta 0.999: increments of 0.1%, below what a dense bf16 or 4-bit factor can store). Each method runs at the learning rate that is best
// for fp32 on a small grid; a cell is the geometric mean over seeds of final loss / fp32's final loss.
// Run with `node --import tsx bench/precision-convergence.ts` (--steps, --seeds, --size 64x48, --extra JSON
// merged into the low-precision configs, e.g. '{"stochasticRounding":true}').
import { parseArgs } from 'node:util';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import type { Optimizer, Param } from '../src/optimizers/optimizer.ts';
import { SOAP } from '../src/optimizers/soap.ts';
import { PRECISIONS } from '../src/storage/precision.ts';
import { KroneckerProblem, type ProblemOptions, runProblem } from './kronecker-problem.ts';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '200' },
    seeds: { type: 'string', default: '3' },
    size: { type: 'string', default: '64x48' },
    // JSON merged into every low-precision config, e.g. '{"stochasticRounding":true}'
    extra: { type: 'string', default: '{}' },
  },
});
const extra = JSON.parse(values.extra) as Record<string, unknown>;
const steps = Number(values.steps);
const seeds = Array.from({ length: Number(values.seeds) }, (_, i) => 11 + i);
const [m, n] = values.size.split('x').map(Number);

const REGIMES: { name: string; options: Omit<ProblemOptions, 'seed'>; config?: Record<string, unknown> }[] = [
  { name: 'noisy, κ = 10³', options: { m, n, smallest: 1e-3, noise: 1 } },
  { name: 'noise-free, κ = 10³', options: { m, n, smallest: 1e-3 } },
  { name: 'noise-free, κ = 10⁵', options: { m, n, smallest: 1e-5 } },
  {
    name: 'noise-free, κ = 10³, shampooBeta 0.999',
    options: { m, n, smallest: 1e-3 },
    config: { shampooBeta: 0.999 },
  },
];

const METHODS: { name: string; make: (p: Param[], c: Record<string, unknown>) => Optimizer }[] = [
  { name: 'SOAP', make: (p, c) => new SOAP(p, c) },
  { name: 'KL-SOAP', make: (p, c) => new KLSOAP(p, c) },
  { name: 'KL-Shampoo', make: (p, c) => new KLShampoo(p, c) },
];
const LRS = [1e-2, 3e-2, 1e-1];

function finalLoss(
  method: (typeof METHODS)[number],
  regime: (typeof REGIMES)[number],
  seed: number,
  config: Record<string, unknown>,
): number {
  const problem = new KroneckerProblem({ ...regime.options, seed });
  const param: Param = { data: problem.start.slice(), shape: [m, n] };
  const opt = method.make([param], { preconditionFrequency: 10, ...regime.config, ...config });
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
  `# final loss / fp32 (geometric mean over ${seeds.length} seeds), ${m}×${n}, ${steps} steps, lr = fp32's best of ${LRS.join(', ')}, extra ${values.extra}\n`,
);
console.log(`| method | regime | lr | fp32 loss | ${PRECISIONS.filter((p) => p !== 'fp32').join(' | ')} |`);
console.log(
  `|---|---|---:|---:|${PRECISIONS.filter((p) => p !== 'fp32')
    .map(() => '---:')
    .join('|')}|`,
);
for (const method of METHODS) {
  for (const regime of REGIMES) {
    const byLr = LRS.map((lr) => seeds.map((s) => finalLoss(method, regime, s, { lr, precision: 'fp32' })));
    const best = byLr.reduce((bi, x, i) => (geomean(x) < geomean(byLr[bi]) ? i : bi), 0);
    const lr = LRS[best];
    const fp32 = byLr[best];
    const cells = PRECISIONS.filter((p) => p !== 'fp32').map((precision) =>
      geomean(
        seeds.map((s, i) => finalLoss(method, regime, s, { lr, precision, ...extra }) / fp32[i]),
      ).toFixed(2),
    );
    console.log(
      `| ${method.name} | ${regime.name} | ${lr} | ${geomean(fp32).toExponential(2)} | ${cells.join(' | ')} |`,
    );
  }
}
