// The storage precisions against fp32 on the ill-conditioned Kronecker problem of bench/kronecker-problem.ts
// (64×48, eigenvalues 10…10⁻² per side). Stochastic gradients: bf16 and 4-bit end within a few % of fp32.
// A factor EMA with β = 0.999 (increments of 0.1%, below bf16's and 4-bit's resolution of a stored dense
// factor): the naive variants are measurably worse than the reparametrized/eigen-parametrized ones, and bf16
// still tracks fp32. And the bf16 subspace refresh with k = d is fp32's full refresh up to bf16 rounding.
// bench/precision-convergence.ts prints the full table (more regimes, seeds and learning rates).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KroneckerProblem, type ProblemOptions, runProblem } from '../bench/kronecker-problem.ts';
import { KLShampoo } from '../src/optimizers/kl-shampoo.ts';
import { KLSOAP } from '../src/optimizers/kl-soap.ts';
import type { Optimizer, Param } from '../src/optimizers/optimizer.ts';
import { SOAP } from '../src/optimizers/soap.ts';
import type { Precision } from '../src/storage/precision.ts';

/** The WASM engine where it exists (a few times faster than the TypeScript kernels on these sizes). */
const ENGINE = 'auto';
const M = 64;
const N = 48;
const STEPS = 200;

type Make = (p: Param[], c: Record<string, unknown>) => Optimizer;
/** Learning rates: fp32's best of {0.01, 0.03, 0.1} in the noisy regime (bench/precision-convergence.ts). */
const METHODS: { name: string; make: Make; noisyLr: number }[] = [
  { name: 'SOAP', make: (p, c) => new SOAP(p, c), noisyLr: 0.1 },
  { name: 'KL-SOAP', make: (p, c) => new KLSOAP(p, c), noisyLr: 0.1 },
  { name: 'KL-Shampoo', make: (p, c) => new KLShampoo(p, c), noisyLr: 0.03 },
];

function finalLoss(
  make: Make,
  problem: Omit<ProblemOptions, 'seed'>,
  config: Record<string, unknown>,
): number {
  const p = new KroneckerProblem({ ...problem, seed: 11 });
  const param: Param = { data: p.start.slice(), shape: [M, N] };
  const opt = make([param], { preconditionFrequency: 10, engine: ENGINE, ...config });
  return runProblem(
    p,
    (w, g) => {
      param.data.set(w);
      opt.step([g]);
      w.set(param.data);
    },
    STEPS,
  );
}

for (const method of METHODS) {
  test(`${method.name}: with stochastic gradients bf16 and 4-bit end within 5% of fp32`, () => {
    const problem = { m: M, n: N, smallest: 1e-3, noise: 1 };
    const loss = (precision: Precision) => finalLoss(method.make, problem, { lr: method.noisyLr, precision });
    const fp32 = loss('fp32');
    for (const precision of ['bf16', '4bit'] as const) {
      const ratio = loss(precision) / fp32;
      assert.ok(Math.abs(ratio - 1) < 0.05, `${precision}: final loss ${ratio.toFixed(3)}× fp32's`);
    }
  });

  test(`${method.name}: with a slow factor EMA (β = 0.999) the naive variants fall behind`, () => {
    const problem = { m: M, n: N, smallest: 1e-3 };
    const loss = (precision: Precision) =>
      finalLoss(method.make, problem, { lr: 0.1, shampooBeta: 0.999, precision });
    const fp32 = loss('fp32');
    const bf16 = loss('bf16');
    const q4 = loss('4bit');
    const bf16Naive = loss('bf16-naive');
    const q4Naive = loss('4bit-naive');
    const show = `fp32 ${fp32.toExponential(3)}, bf16 ${bf16.toExponential(3)}, bf16-naive ${bf16Naive.toExponential(3)}, 4bit ${q4.toExponential(3)}, 4bit-naive ${q4Naive.toExponential(3)}`;
    assert.ok(bf16 < 1.1 * fp32, `bf16 tracks fp32: ${show}`);
    assert.ok(bf16Naive > 1.15 * bf16, `bf16-naive is worse than bf16: ${show}`);
    assert.ok(q4Naive > 1.15 * q4, `4bit-naive is worse than 4bit: ${show}`);
  });
}

for (const [name, make] of [
  ['SOAP', (p, c) => new SOAP(p, c)],
  ['KL-SOAP', (p, c) => new KLSOAP(p, c)],
] as [string, Make][]) {
  test(`${name}: bf16 with k = d follows fp32's trajectory up to bf16 rounding`, () => {
    // Noisy gradients keep both factors full rank: in a null space the basis is arbitrary and any rounding
    // may pick another one.
    const options = { m: 24, n: 16, smallest: 1e-2, noise: 1, seed: 5 };
    const run = (precision: Precision) => {
      const problem = new KroneckerProblem(options);
      const param: Param = { data: problem.start.slice(), shape: [24, 16] };
      const opt = make([param], {
        lr: 1e-2,
        // A large ε makes the Adam direction a smooth function of the basis (with ε ≈ 0 the first steps are
        // sign(Ĝ), which a rounding of Q can flip for the near-zero entries).
        eps: 1,
        preconditionFrequency: 3,
        precision,
        subspaceSize: Number.POSITIVE_INFINITY,
        momentPrecision: 'fp32',
        engine: 'typescript',
      });
      const g = new Float32Array(24 * 16);
      const path: Float32Array[] = [];
      for (let t = 0; t < 30; t++) {
        problem.evaluate(param.data, g);
        opt.step([g]);
        path.push(param.data.slice());
      }
      return { path, start: problem.start };
    };
    const a = run('fp32');
    const b = run('bf16');
    const distances: number[] = [];
    for (let t = 1; t < a.path.length; t++) {
      // ‖x_fp32 − x_bf16‖ relative to how far the parameters moved (Frobenius norms).
      let diff = 0;
      let moved = 0;
      for (let i = 0; i < a.start.length; i++) {
        diff += (a.path[t][i] - b.path[t][i]) ** 2;
        moved += (a.path[t][i] - a.start[i]) ** 2;
      }
      distances.push(Math.sqrt(diff / moved));
    }
    // Measured: 1–3% (the bf16 rounding of Q and S accumulates slowly over the ten refreshes).
    assert.ok(Math.max(...distances) < 5e-2, `relative distance ${Math.max(...distances)}`);
  });
}
