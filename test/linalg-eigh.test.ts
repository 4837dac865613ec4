import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { NonFiniteError } from '../src/errors.ts';
import { eigh, eigvalsh, setLinalgEngine, workspaceFallbacks } from '../src/linalg/index.ts';
import {
  eigenResidual,
  fromSpectrum,
  gaussian,
  identity,
  linalgEngines,
  matmul,
  orthogonalityError,
  randomOrthogonal,
  rng,
} from './helpers/linalg.ts';

const EPS = 2 ** -52;

/** eigh of Q·Diag(λ)·Qᵀ, checked against the known spectrum, the residual and orthogonality. */
function checkSpectrum(n: number, lambda: number[], seed: number, label: string): void {
  const q = randomOrthogonal(n, rng(seed));
  const a = fromSpectrum(q, lambda, n);
  const { values, vectors } = eigh(a, n);
  const sorted = [...lambda].sort((x, y) => x - y);
  const scale = Math.max(...lambda.map(Math.abs), Number.MIN_VALUE);
  for (let i = 0; i < n; i++) {
    assert.ok(
      Math.abs(values[i] - sorted[i]) <= 50 * n * EPS * scale,
      `${label}: λ[${i}] = ${values[i]}, expected ${sorted[i]}`,
    );
  }
  for (let i = 1; i < n; i++) assert.ok(values[i] >= values[i - 1], `${label}: not ascending at ${i}`);
  const res = eigenResidual(a, values, vectors, n);
  const orth = orthogonalityError(vectors, n, n);
  assert.ok(res <= 20 * n * EPS, `${label}: residual ${res}`);
  assert.ok(orth <= 20 * n * EPS, `${label}: ‖VᵀV − I‖ = ${orth}`);
}

for (const engine of linalgEngines()) {
  describe(`eigh on known spectra Q·Diag(λ)·Qᵀ [${engine}]`, () => {
    before(() => setLinalgEngine(engine));
    test('distinct eigenvalues of both signs, sizes 1..257', () => {
      for (const n of [1, 2, 3, 4, 5, 7, 8, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 200, 257]) {
        const lambda = Array.from({ length: n }, (_, i) => 3 * Math.cos(1.3 * i + 0.4) + 0.01 * i);
        checkSpectrum(n, lambda, 1000 + n, `n=${n}`);
      }
    });

    test('condition numbers up to 1e8 (geometric spectrum)', () => {
      for (const [n, cond] of [
        [50, 1e4],
        [97, 1e6],
        [150, 1e8],
      ]) {
        const lambda = Array.from({ length: n }, (_, i) => cond ** (-i / (n - 1)));
        checkSpectrum(n, lambda, 7 + n, `cond=${cond}`);
        // Small eigenvalues are accurate in absolute terms (to ε·‖A‖), which is all a backward-stable method gives.
      }
    });

    test('repeated eigenvalues: eigenvectors stay orthogonal and span the eigenspaces', () => {
      const n = 120;
      const lambda = Array.from({ length: n }, (_, i) => (i < 50 ? 2 : i < 90 ? -1 : i < 100 ? 0.5 : 7));
      checkSpectrum(n, lambda, 42, 'repeated');
      // A multiple of the identity plus a rank-one term: n−1 equal eigenvalues.
      const u = gaussian(rng(5), n);
      const a = identity(n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = 3 * a[i * n + j] + u[i] * u[j];
      const { values, vectors } = eigh(a, n);
      for (let i = 0; i < n - 1; i++) assert.ok(Math.abs(values[i] - 3) < 1e-12, `λ[${i}] = ${values[i]}`);
      assert.ok(orthogonalityError(vectors, n, n) < 20 * n * EPS);
      assert.ok(eigenResidual(a, values, vectors, n) < 20 * n * EPS);
    });

    test('clustered eigenvalues (gaps of 1e-10 and 1e-14)', () => {
      const n = 80;
      const lambda = Array.from({ length: n }, (_, i) => (i < 40 ? 1 + i * 1e-10 : -1 + i * 1e-14));
      checkSpectrum(n, lambda, 99, 'clustered');
    });

    test('rank-deficient and zero matrices', () => {
      const n = 90;
      const lambda = Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 + i / 10 : 0));
      checkSpectrum(n, lambda, 3, 'rank-deficient');
      const z = eigh(new Float64Array(36), 6);
      assert.deepEqual([...z.values], [0, 0, 0, 0, 0, 0]);
      assert.ok(orthogonalityError(z.vectors, 6, 6) === 0);
    });

    test('1×1 and 2×2 (closed forms)', () => {
      const one = eigh([-4.5], 1);
      assert.deepEqual([...one.values], [-4.5]);
      assert.equal(Math.abs(one.vectors[0]), 1);
      // [[2, 1], [1, 2]]: eigenvalues 1 and 3, eigenvectors (1, −1)/√2 and (1, 1)/√2.
      const two = eigh([2, 1, 1, 2], 2);
      assert.ok(Math.abs(two.values[0] - 1) < 4 * EPS && Math.abs(two.values[1] - 3) < 8 * EPS);
      const r = Math.SQRT1_2;
      assert.ok(
        Math.abs(Math.abs(two.vectors[0]) - r) < 4 * EPS &&
          Math.abs(two.vectors[0] + two.vectors[2]) < 4 * EPS,
      );
      assert.ok(
        Math.abs(Math.abs(two.vectors[1]) - r) < 4 * EPS &&
          Math.abs(two.vectors[1] - two.vectors[3]) < 4 * EPS,
      );
    });

    test('a tridiagonal input (no Householder work) and a diagonal one with unsorted entries', () => {
      // The 1-D Laplacian: λ_k = 2 − 2cos(kπ/(n+1)).
      const n = 70;
      const a = new Float64Array(n * n);
      for (let i = 0; i < n; i++) {
        a[i * n + i] = 2;
        if (i + 1 < n) a[i * n + i + 1] = a[(i + 1) * n + i] = -1;
      }
      const { values, vectors } = eigh(a, n);
      for (let k = 1; k <= n; k++) {
        assert.ok(Math.abs(values[k - 1] - (2 - 2 * Math.cos((k * Math.PI) / (n + 1)))) < 1e-14);
      }
      assert.ok(eigenResidual(a, values, vectors, n) < 20 * n * EPS);
      const diag = [3, -1, 2, 0, -5];
      const b = new Float64Array(25);
      diag.forEach((x, i) => {
        b[i * 5 + i] = x;
      });
      assert.deepEqual([...eigh(b, 5).values], [-5, -1, 0, 2, 3]);
    });

    test('structured tridiagonal matrices: Clement (known spectrum), Wilkinson W+, glued Wilkinson', () => {
      // Clement (Kac) matrix: off-diagonals √(i(n−i)), eigenvalues −(n−1), −(n−3), …, n−1.
      const n = 101;
      const c = new Float64Array(n * n);
      for (let i = 0; i + 1 < n; i++)
        c[i * n + i + 1] = c[(i + 1) * n + i] = Math.sqrt((i + 1) * (n - 1 - i));
      const rc = eigh(c, n);
      for (let i = 0; i < n; i++)
        assert.ok(Math.abs(rc.values[i] - (2 * i - (n - 1))) < 1e-11, `Clement λ[${i}]`);
      assert.ok(orthogonalityError(rc.vectors, n, n) < 20 * n * EPS);
      // W+ (pairs of eigenvalues agreeing to ~1e-14) and copies glued by 1e-9: many near-equal eigenvalues.
      for (const [m, glue] of [
        [201, 1],
        [21 * 12, 1e-9],
      ]) {
        const w = new Float64Array(m * m);
        for (let i = 0; i < m; i++) {
          w[i * m + i] = glue === 1 ? Math.abs(i - (m - 1) / 2) : Math.abs((i % 21) - 10);
          if (i + 1 < m) w[i * m + i + 1] = w[(i + 1) * m + i] = (i + 1) % 21 === 0 && glue !== 1 ? glue : 1;
        }
        const r = eigh(w, m);
        assert.ok(eigenResidual(w, r.values, r.vectors, m) < 20 * m * EPS, `W m=${m} residual`);
        assert.ok(orthogonalityError(r.vectors, m, m) < 20 * m * EPS, `W m=${m} orthogonality`);
      }
    });

    test('extreme magnitudes are scaled exactly (1e-300 and 1e300)', () => {
      const n = 20;
      const lambda = Array.from({ length: n }, (_, i) => i - 7.5);
      const q = randomOrthogonal(n, rng(11));
      const base = fromSpectrum(q, lambda, n);
      for (const s of [1e-300, 1e300]) {
        const { values, vectors } = eigh(
          base.map((x) => x * s),
          n,
        );
        for (let i = 0; i < n; i++) assert.ok(Math.abs(values[i] / s - lambda[i]) < 1e-13, `s=${s} λ[${i}]`);
        assert.ok(orthogonalityError(vectors, n, n) < 20 * n * EPS);
      }
    });
  });

  describe(`eigh contract [${engine}]`, () => {
    before(() => setLinalgEngine(engine));
    test('symmetrises the input and leaves it unmodified', () => {
      const n = 9;
      const rand = rng(8);
      const a = gaussian(rand, n * n);
      const copy = a.slice();
      const { values, vectors } = eigh(a, n);
      assert.deepEqual(a, copy);
      const sym = new Float64Array(n * n);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) sym[i * n + j] = (a[i * n + j] + a[j * n + i]) / 2;
      assert.ok(eigenResidual(sym, values, vectors, n) < 100 * EPS);
      // Float32 input is accepted as is.
      const f32 = Float32Array.from(sym);
      const r32 = eigh(f32, n);
      assert.ok(eigenResidual(Float64Array.from(f32), r32.values, r32.vectors, n) < 100 * EPS);
    });

    test('reconstructs A = V·Diag(λ)·Vᵀ', () => {
      const n = 40;
      const a = fromSpectrum(randomOrthogonal(n, rng(21)), gaussian(rng(22), n), n);
      const { values, vectors } = eigh(a, n);
      const vl = vectors.map((x, idx) => x * values[idx % n]);
      const vt = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vt[j * n + i] = vectors[i * n + j];
      const back = matmul(vl, vt, n, n, n);
      for (let i = 0; i < n * n; i++) assert.ok(Math.abs(back[i] - a[i]) < 1e-13);
    });

    test('empty input (n = 0)', () => {
      const r = eigh([], 0);
      assert.equal(r.values.length, 0);
      assert.equal(r.vectors.length, 0);
      assert.equal(eigvalsh([], 0).length, 0);
    });

    test('writes into caller buffers', () => {
      const values = new Float64Array(3);
      const vectors = new Float64Array(9);
      const r = eigh([1, 0, 0, 0, 3, 0, 0, 0, 2], 3, { values, vectors });
      assert.equal(r.values, values);
      assert.equal(r.vectors, vectors);
      assert.deepEqual([...values], [1, 2, 3]);
    });

    test('non-finite input throws NonFiniteError naming the entry', () => {
      const a = [1, 2, 2, 1];
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        const x = a.slice();
        x[2] = bad;
        assert.throws(() => eigh(x, 2), NonFiniteError);
        assert.throws(() => eigvalsh(x, 2), NonFiniteError);
      }
      assert.throws(() => eigh([1, 2, 3], 2), RangeError);
    });

    test('eigvalsh agrees with eigh', () => {
      for (const n of [1, 2, 5, 33, 100]) {
        const a = fromSpectrum(randomOrthogonal(n, rng(n)), gaussian(rng(n + 1), n), n);
        const v1 = eigvalsh(a, n);
        const v2 = eigh(a, n).values;
        for (let i = 0; i < n; i++) assert.ok(Math.abs(v1[i] - v2[i]) < 1e-13, `n=${n} i=${i}`);
      }
    });

    test('scratch estimates hold: no workspace allocation fell back to a plain array', () => {
      eigh(fromSpectrum(randomOrthogonal(300, rng(1)), gaussian(rng(2), 300), 300), 300);
      assert.equal(workspaceFallbacks(), 0);
    });
  });
}
