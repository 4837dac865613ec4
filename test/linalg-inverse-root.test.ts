import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { NonFiniteError } from '../src/errors.ts';
import {
  eigenReconstruct,
  inverseRootEigenvalues,
  matrixInverseRoot,
  setLinalgEngine,
} from '../src/linalg/index.ts';
import {
  fromSpectrum,
  identity,
  linalgEngines,
  matmul,
  maxAbsDiff,
  randomOrthogonal,
  rng,
} from './helpers/linalg.ts';

/** The oracle: Q·Diag(f(λ))·Qᵀ from the known factors. */
function oracle(q: Float64Array, lambda: number[], n: number, f: (x: number) => number): Float64Array {
  return fromSpectrum(q, lambda.map(f), n);
}

function relDiff(a: Float64Array, b: Float64Array): number {
  let big = 0;
  for (const x of b) big = Math.max(big, Math.abs(x));
  return maxAbsDiff(a, b) / big;
}

for (const engine of linalgEngines()) {
  describe(`matrixInverseRoot [${engine}]`, () => {
    before(() => setLinalgEngine(engine));
    const n = 30;
    const q = randomOrthogonal(n, rng(4));
    const lambda = Array.from({ length: n }, (_, i) => 0.1 * 100 ** (i / (n - 1))); // 0.1 … 10
    const A = fromSpectrum(q, lambda, n);
    const none = { kind: 'absolute', epsilon: 0 } as const;

    test('A^(−1/4) and A^(−1/2) match the eigen-formula oracle and differ from each other', () => {
      const r4 = matrixInverseRoot(A, n, 4, none);
      const r2 = matrixInverseRoot(A, n, 2, none);
      const o4 = oracle(q, lambda, n, (x) => x ** -0.25);
      const o2 = oracle(q, lambda, n, (x) => x ** -0.5);
      assert.ok(relDiff(r4, o4) < 1e-13, `root 4: ${relDiff(r4, o4)}`);
      assert.ok(relDiff(r2, o2) < 1e-13, `root 2: ${relDiff(r2, o2)}`);
      assert.ok(relDiff(r4, o2) > 0.3, 'A^(−1/4) must differ visibly from A^(−1/2)');
      // Fractional and order-3 roots (−1/6 for 3-D tensors).
      const r6 = matrixInverseRoot(A, n, 6, none);
      assert.ok(
        relDiff(
          r6,
          oracle(q, lambda, n, (x) => x ** (-1 / 6)),
        ) < 1e-13,
      );
      const r15 = matrixInverseRoot(A, n, 1.5, none);
      assert.ok(
        relDiff(
          r15,
          oracle(q, lambda, n, (x) => x ** (-1 / 1.5)),
        ) < 1e-13,
      );
    });

    test('(A^(−1/p))^p · A = I on a well-conditioned input', () => {
      for (const p of [1, 2, 4]) {
        const x = matrixInverseRoot(A, n, p, none);
        let pow = identity(n);
        for (let t = 0; t < p; t++) pow = matmul(pow, x, n, n, n);
        const prod = matmul(pow, A, n, n, n);
        assert.ok(maxAbsDiff(prod, identity(n)) < 1e-12, `p=${p}: ${maxAbsDiff(prod, identity(n))}`);
      }
    });

    test('result is exactly symmetric; input untouched; out buffer used', () => {
      const copy = A.slice();
      const out = new Float64Array(n * n);
      const x = matrixInverseRoot(A, n, 4, { kind: 'absolute', epsilon: 1e-6 }, out);
      assert.equal(x, out);
      assert.deepEqual(A, copy);
      for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) assert.equal(x[i * n + j], x[j * n + i]);
    });

    test('absolute ridge (Distributed Shampoo): eigh(A + εI), shift only if λ_min < ε', () => {
      const eps = 0.05;
      // λ_min + ε ≥ ε: no shift, eigenvalues are λ + ε.
      const r = matrixInverseRoot(A, n, 4, { kind: 'absolute', epsilon: eps });
      assert.ok(
        relDiff(
          r,
          oracle(q, lambda, n, (x) => (x + eps) ** -0.25),
        ) < 1e-13,
      );
      // Indefinite input: λ + ε has minimum below ε, so μ = (λ + ε) − (λ_min + ε) + ε = λ − λ_min + ε.
      const ind = lambda.map((x, i) => (i === 0 ? -0.7 : x));
      const B = fromSpectrum(q, ind, n);
      const rb = matrixInverseRoot(B, n, 2, { kind: 'absolute', epsilon: eps });
      assert.ok(
        relDiff(
          rb,
          oracle(q, ind, n, (x) => (x + 0.7 + eps) ** -0.5),
        ) < 1e-12,
      );
      // perturbBeforeComputation false: μ = λ − min(λ_min, 0) + ε, on both inputs.
      const pa = matrixInverseRoot(A, n, 4, {
        kind: 'absolute',
        epsilon: eps,
        perturbBeforeComputation: false,
      });
      assert.ok(
        relDiff(
          pa,
          oracle(q, lambda, n, (x) => (x + eps) ** -0.25),
        ) < 1e-13,
      );
      const pb = matrixInverseRoot(B, n, 4, {
        kind: 'absolute',
        epsilon: eps,
        perturbBeforeComputation: false,
      });
      assert.ok(
        relDiff(
          pb,
          oracle(q, ind, n, (x) => (x + 0.7 + eps) ** -0.25),
        ) < 1e-12,
      );
    });

    test('singular input: both ridges give finite roots with the predicted null-space gain', () => {
      const sing = lambda.map((x, i) => (i < 10 ? 0 : x));
      const S = fromSpectrum(q, sing, n);
      const eps = 1e-4;
      const ra = matrixInverseRoot(S, n, 4, { kind: 'absolute', epsilon: eps });
      // λ_min of S + εI is ε up to rounding (~1e-16), so the shift, if any, changes nothing measurable.
      assert.ok(
        relDiff(
          ra,
          oracle(q, sing, n, (x) => (x + eps) ** -0.25),
        ) < 1e-9,
      );
      const rr = matrixInverseRoot(S, n, 4, { kind: 'relative', epsilon: 1e-6 });
      const rho = 1e-6 * 10;
      assert.ok(
        relDiff(
          rr,
          oracle(q, sing, n, (x) => (x + rho) ** -0.25),
        ) < 1e-9,
      );
      // Null-space directions are amplified by ρ^(−1/4) = 17.8 (relative) vs ε^(−1/4) = 10 (absolute).
      const v0 = Array.from({ length: n }, (_, i) => q[i * n]);
      const gain = (m: Float64Array) => {
        let s = 0;
        for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) s += v0[i] * m[i * n + j] * v0[j];
        return s;
      };
      assert.ok(Math.abs(gain(rr) - rho ** -0.25) < 1e-6 * rho ** -0.25);
      assert.ok(Math.abs(gain(ra) - eps ** -0.25) < 1e-6 * eps ** -0.25);
    });

    test('relative ridge (4-bit Shampoo): ρ = ε·λ_max, errors where the reference would produce Inf/NaN', () => {
      const eps = 1e-2;
      const r = matrixInverseRoot(A, n, 4, { kind: 'relative', epsilon: eps });
      assert.ok(
        relDiff(
          r,
          oracle(q, lambda, n, (x) => (x + eps * 10) ** -0.25),
        ) < 1e-13,
      );
      const Z = new Float64Array(n * n);
      assert.throws(() => matrixInverseRoot(Z, n, 4, { kind: 'relative', epsilon: 1e-6 }), NonFiniteError);
      const rz = matrixInverseRoot(Z, n, 4, { kind: 'relative', epsilon: 1e-6, minRidge: 1e-8 });
      assert.ok(
        maxAbsDiff(
          rz,
          identity(n).map((x) => x * 1e-8 ** -0.25),
        ) < 1e-9,
      );
      const neg = fromSpectrum(
        q,
        lambda.map((x, i) => (i === 0 ? -1 : x)),
        n,
      );
      assert.throws(() => matrixInverseRoot(neg, n, 4, { kind: 'relative', epsilon: 1e-6 }), NonFiniteError);
    });

    test('invalid root and non-finite input', () => {
      assert.throws(() => matrixInverseRoot(A, n, 0, none), RangeError);
      assert.throws(() => matrixInverseRoot(A, n, Number.NaN, none), RangeError);
      assert.throws(() => matrixInverseRoot([1, Number.NaN, 0, 1], 2, 4, none), NonFiniteError);
    });
  });

  describe(`inverseRootEigenvalues and eigenReconstruct [${engine}]`, () => {
    before(() => setLinalgEngine(engine));
    test('apply the ridge formulas to given eigenvalues in any order', () => {
      const lam = [3, -0.2, 1];
      const a = inverseRootEigenvalues(lam, 2, { kind: 'absolute', epsilon: 0.1 });
      // λ_min = −0.2 < ε: μ = λ + 0.2 + 0.1
      assert.deepEqual(
        [...a].map((x) => +x.toFixed(12)),
        [3.3, 0.1, 1.3].map((x) => +(x ** -0.5).toFixed(12)),
      );
      const r = inverseRootEigenvalues([4, 0, 2], 4, { kind: 'relative', epsilon: 0.25 });
      assert.deepEqual(
        [...r].map((x) => +x.toFixed(12)),
        [5, 1, 3].map((x) => +(x ** -0.25).toFixed(12)),
      );
    });

    test('eigenReconstruct equals V·Diag(s)·Vᵀ, also for thin V', () => {
      const rand = rng(2);
      const n = 23;
      const v = randomOrthogonal(n, rand);
      const s = Array.from({ length: n }, () => rand() - 0.5);
      assert.ok(maxAbsDiff(eigenReconstruct(v, n, n, s), fromSpectrum(v, s, n)) < 1e-14);
      const k = 5;
      const thin = new Float64Array(n * k);
      for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) thin[i * k + j] = v[i * n + j];
      const padded = s.map((x, j) => (j < k ? x : 0));
      assert.ok(maxAbsDiff(eigenReconstruct(thin, n, k, s.slice(0, k)), fromSpectrum(v, padded, n)) < 1e-14);
    });
  });
}
