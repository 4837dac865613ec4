// Where stochastic rounding of bf16 moments matters: SOAP with β2 = 0.999 and its moments forced to bf16
// (momentPrecision 'bf16'; 'auto' would keep V fp32 at this decay). Round-to-nearest freezes the second-moment
// EMA (its 0.1% increments are below half a bf16 ulp); stochastic rounding keeps it moving on average. Final
// loss on the Kronecker problem of bench/kronecker-problem.ts (64×48, κ = 10³ per side), 300 steps, per seed,
// beside fp32 and bf16 with fp32 moments. Run with `node --import tsx bench/stochastic-rounding.ts`.
import type { Param } from '../src/optimizers/optimizer.ts';
import { SOAP, type SOAPConfig } from '../src/optimizers/soap.ts';
import { KroneckerProblem, runProblem } from './kronecker-problem.ts';

const VARIANTS: [string, SOAPConfig][] = [
  ['fp32', { precision: 'fp32' }],
  ['bf16, fp32 moments', { precision: 'bf16', momentPrecision: 'fp32' }],
  ['bf16, bf16 moments, nearest', { precision: 'bf16', momentPrecision: 'bf16' }],
  [
    'bf16, bf16 moments, stochastic',
    { precision: 'bf16', momentPrecision: 'bf16', stochasticRounding: true },
  ],
];
const SEEDS = [11, 12];

console.log('# SOAP, betas [0.95, 0.999], final loss after 300 steps (seeds 11, 12)\n');
console.log(`| noise | lr | ${VARIANTS.map(([name]) => name).join(' | ')} |`);
console.log(`|---:|---:|${VARIANTS.map(() => '---').join('|')}|`);
for (const noise of [0, 1]) {
  for (const lr of [0.01, 0.03]) {
    const cells = VARIANTS.map(([, config]) =>
      SEEDS.map((seed) => {
        const problem = new KroneckerProblem({ m: 64, n: 48, smallest: 1e-3, noise, seed });
        const p: Param = { data: problem.start.slice(), shape: [64, 48] };
        const opt = new SOAP([p], { lr, betas: [0.95, 0.999], preconditionFrequency: 10, ...config });
        const loss = runProblem(
          problem,
          (w, g) => {
            p.data.set(w);
            opt.step([g]);
            w.set(p.data);
          },
          300,
        );
        return loss.toExponential(3);
      }).join(', '),
    );
    console.log(`| ${noise} | ${lr} | ${cells.join(' | ')} |`);
  }
}
