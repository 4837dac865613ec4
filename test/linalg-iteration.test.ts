import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { NonFiniteError } from '../src/errors.ts';
import {
  bjorck,
  eigh,
  orthogonalIterationStep,
  qr,
  rayleighQuotients,
  setLinalgEngine,
} from '../src/linalg/index.ts';
import {
  fromSpectrum,
  gaussian,
  linalgEngines,
  matmul,
  maxAbsDiff,
  orthogonalityError,
  randomOrthogonal,
  rng,
  transpose,
} from './helpers/linalg.ts';

for (const engine of linalgEngines()) {
  describe(`orthogonalIterationStep [${engine}]`, () => {
    before(() => setLinalgEngine(engine));
    test('equals qr(A·Q) for both sign conventions, square and thin Q, non-symmetric A', () => {
      const rand = rng(31);
      for (const [n, k] of [
        [1, 1],
        [7, 7],
        [37, 37],
        [37, 10],
        [65, 64],
      ]) {
        const a = gaussian(rand, n * n);
        const q0 = randomOrthogonal(n, rand);
        const q = new Float64Array(n * k);
        for (let i = 0; i < n; i++) for (let j = 0; j < k; j++) q[i * k + j] = q0[i * n + j];
        const aq = matmul(a, q, n, n, k);
        for (const sign of ['positive-diagonal', 'lapack'] as const) {
          const got = orthogonalIterationStep(a, q, n, k, sign);
          assert.ok(maxAbsDiff(got, qr(aq, n, k, sign)) < 1e-12, `n=${n} k=${k} ${sign}`);
        }
      }
    });

    test('§8.1: one step from an orthogonal Q equals Q·qr(Qᵀ·L·Q).Q', () => {
      const d = 64;
      const rand = rng(8);
      const L = fromSpectrum(
        randomOrthogonal(d, rand),
        Array.from({ length: d }, () => 0.5 + rand()),
        d,
      );
      const Q = randomOrthogonal(d, rand);
      const B = matmul(matmul(transpose(Q, d, d), L, d, d, d), Q, d, d, d);
      const diff = maxAbsDiff(orthogonalIterationStep(L, Q, d), matmul(Q, qr(B, d, d), d, d, d));
      assert.ok(diff < 3e-12, `difference ${diff}`);
    });

    test('repeated steps converge to the dominant eigenvectors (Rayleigh quotients → top eigenvalues)', () => {
      const n = 40;
      const k = 5;
      const rand = rng(12);
      const lambda = Array.from({ length: n }, (_, i) => (i < k ? 10 * 2 ** -i : 0.01 + 0.19 * rand()));
      const A = fromSpectrum(randomOrthogonal(n, rand), lambda, n);
      let q = qr(gaussian(rand, n * k), n, k);
      for (let t = 0; t < 60; t++) q = orthogonalIterationStep(A, q, n, k);
      const est = rayleighQuotients(A, q, n, k);
      for (let j = 0; j < k; j++) assert.ok(Math.abs(est[j] - 10 * 2 ** -j) < 1e-12, `λ[${j}] = ${est[j]}`);
      assert.ok(orthogonalityError(q, n, k) < 1e-14);
    });

    test('output may alias an input (in-place refresh Q ← qr(A·Q))', () => {
      const n = 20;
      const rand = rng(44);
      const a = fromSpectrum(randomOrthogonal(n, rand), gaussian(rand, n), n);
      const q = randomOrthogonal(n, rand);
      const expected = orthogonalIterationStep(a, q, n, n, 'lapack');
      const same = orthogonalIterationStep(a, q, n, n, 'lapack', q);
      assert.equal(same, q);
      assert.deepEqual(q, expected);
      const v = q.map((x, i) => x + 1e-3 * Math.sin(i));
      const out = bjorck(v, n, n, 2);
      assert.deepEqual(bjorck(v, n, n, 2, v), out);
    });

    test('rejects non-finite input and k > n', () => {
      assert.throws(() => orthogonalIterationStep([1, Number.NaN, 0, 1], [1, 0, 0, 1], 2), NonFiniteError);
      assert.throws(() => orthogonalIterationStep([1, 0, 0, 1], [1, 0, 0, Number.NaN], 2), NonFiniteError);
      assert.throws(() => orthogonalIterationStep([1, 0, 0, 1], [1, 0, 0, 1, 0, 0], 2, 3), RangeError);
    });
  });

  describe(`rayleighQuotients [${engine}]`, () => {
    before(() => setLinalgEngine(engine));
    test('equal diag(Qᵀ·A·Q) formed explicitly, for square and thin Q and non-symmetric A', () => {
      const rand = rng(5);
      for (const [n, k] of [
        [1, 1],
        [3, 2],
        [50, 50],
        [101, 97],
        [130, 7],
      ]) {
        const a = gaussian(rand, n * n);
        const q = gaussian(rand, n * k);
        const full = matmul(matmul(transpose(q, n, k), a, k, n, n), q, k, n, k);
        const got = rayleighQuotients(a, q, n, k);
        for (let j = 0; j < k; j++) {
          assert.ok(
            Math.abs(got[j] - full[j * k + j]) < 1e-12 * Math.max(1, Math.abs(full[j * k + j])),
            `${n}×${k} j=${j}`,
          );
        }
      }
    });

    test('exact eigenvectors give the eigenvalues, small ones included (f64 accumulation of f32 input)', () => {
      const n = 60;
      const lambda = Array.from({ length: n }, (_, i) => 10 ** (6 - (7 * i) / (n - 1)));
      const A = fromSpectrum(randomOrthogonal(n, rng(3)), lambda, n);
      const { values, vectors } = eigh(A, n);
      const est = rayleighQuotients(A, vectors, n);
      for (let j = 0; j < n; j++) assert.ok(Math.abs(est[j] - values[j]) <= 1e-9 + 1e-12 * values[j]);
      // Float32 storage of A and V: the quotient is the exact f64 value for those f32 numbers.
      const a32 = Float32Array.from(A);
      const v32 = Float32Array.from(vectors);
      const est32 = rayleighQuotients(a32, v32, n);
      const exact = matmul(matmul(transpose(v32, n, n), a32, n, n, n), v32, n, n, n);
      for (let j = 0; j < n; j++) assert.ok(Math.abs(est32[j] - exact[j * n + j]) < 1e-8);
    });

    test('writes into out and rejects non-finite input', () => {
      const out = new Float64Array(2);
      assert.equal(rayleighQuotients([2, 0, 0, 3], [1, 0, 0, 1], 2, 2, out), out);
      assert.deepEqual([...out], [2, 3]);
      assert.throws(
        () => rayleighQuotients([2, 0, 0, Number.POSITIVE_INFINITY], [1, 0, 0, 1], 2),
        NonFiniteError,
      );
    });
  });

  describe(`bjorck [${engine}]`, () => {
    before(() => setLinalgEngine(engine));
    /** V = U·Diag(σ)·Wᵀ: its orthogonal polar factor, the limit of the iteration, is U·Wᵀ. */
    function withSingularValues(rows: number, cols: number, sigma: number[], seed: number) {
      const rand = rng(seed);
      const u0 = randomOrthogonal(rows, rand);
      const w = randomOrthogonal(cols, rand);
      const us = new Float64Array(rows * cols);
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < cols; j++) us[i * cols + j] = u0[i * rows + j] * sigma[j];
      const v = matmul(us, transpose(w, cols, cols), rows, cols, cols);
      const u = new Float64Array(rows * cols);
      for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) u[i * cols + j] = u0[i * rows + j];
      return { v, polar: matmul(u, transpose(w, cols, cols), rows, cols, cols) };
    }

    test('orthogonality error falls quadratically from a perturbed orthogonal matrix', () => {
      const n = 64;
      const rand = rng(9);
      const q = randomOrthogonal(n, rand);
      const e = gaussian(rand, n * n);
      const v = q.map((x, i) => x + 0.01 * e[i]);
      const errs = [orthogonalityError(v, n, n)];
      let cur: Float64Array = v;
      for (let t = 0; t < 5; t++) {
        cur = bjorck(cur, n, n, 1);
        errs.push(orthogonalityError(cur, n, n));
      }
      // σ ↦ 1.5σ − 0.5σ³ maps 1 + δ to 1 − 1.5δ² − 0.5δ³, so ‖VᵀV − I‖ ≈ 2δ shrinks like 0.75·e².
      for (let t = 0; t + 1 < errs.length && errs[t] > 1e-7; t++) {
        assert.ok(errs[t + 1] <= errs[t] * errs[t], `step ${t}: ${errs[t]} → ${errs[t + 1]}`);
        assert.ok(errs[t + 1] >= 0.1 * errs[t] * errs[t], `step ${t} faster than quadratic? ${errs[t + 1]}`);
      }
      assert.ok(errs[errs.length - 1] < 1e-13, `final ${errs[errs.length - 1]}`);
    });

    test('converges to the polar factor U·Wᵀ; tall, wide and transposed inputs agree', () => {
      const sigma = [0.6, 0.8, 1, 1.2, 1.4, 1.6, 0.9];
      for (const [rows, cols] of [
        [7, 7],
        [20, 7],
      ]) {
        const { v, polar } = withSingularValues(rows, cols, sigma.slice(0, cols), rows + cols);
        const r = bjorck(v, rows, cols, 12);
        assert.ok(maxAbsDiff(r, polar) < 1e-13, `${rows}×${cols}: ${maxAbsDiff(r, polar)}`);
        const rt = bjorck(transpose(v, rows, cols), cols, rows, 12);
        assert.ok(maxAbsDiff(rt, transpose(polar, rows, cols)) < 1e-13, `${cols}×${rows} (transposed)`);
      }
    });

    test('one step maps each singular value σ to 1.5σ − 0.5σ³', () => {
      const sigma = [0.3, 0.7, 1, 1.5, 1.7];
      const { v } = withSingularValues(5, 5, sigma, 77);
      const r = bjorck(v, 5, 5, 1);
      const gram = matmul(transpose(r, 5, 5), r, 5, 5, 5);
      const got = [...eigh(gram, 5).values].map(Math.sqrt);
      const expected = sigma.map((s) => 1.5 * s - 0.5 * s ** 3).sort((a, b) => a - b);
      for (let i = 0; i < 5; i++) assert.ok(Math.abs(got[i] - expected[i]) < 1e-13, `σ[${i}]`);
    });

    test('zero iterations copy; input untouched; errors', () => {
      const v = Float32Array.from([1, 0.1, 0, 1]);
      const copy = v.slice();
      assert.deepEqual([...bjorck(v, 2, 2, 0)], [...Float64Array.from(v)]);
      bjorck(v, 2, 2, 3);
      assert.deepEqual(v, copy);
      assert.throws(() => bjorck(v, 2, 2, -1), RangeError);
      assert.throws(() => bjorck(v, 2, 2, 1.5), RangeError);
      assert.throws(() => bjorck([1, Number.NaN, 0, 1], 2, 2, 1), NonFiniteError);
    });
  });
}
