import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { NonFiniteError } from '../src/errors.ts';
import { qr, setLinalgEngine } from '../src/linalg/index.ts';
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

const EPS = 2 ** -52;

/**
 * Textbook unblocked Householder QR with LAPACK dlarfg's rules, column by column on a column-major copy: the
 * oracle for the 'lapack' signs. Returns Q (rows×cols) and diag(R).
 */
function householderOracle(
  a: ArrayLike<number>,
  rows: number,
  cols: number,
): { q: Float64Array; rdiag: number[] } {
  const col = (j: number) => Array.from({ length: rows }, (_, i) => a[i * cols + j]);
  const R = Array.from({ length: cols }, (_, j) => col(j));
  const vs: number[][] = [];
  const taus: number[] = [];
  const rdiag: number[] = [];
  for (let k = 0; k < cols; k++) {
    const x = R[k];
    let tail = 0;
    for (let i = k + 1; i < rows; i++) tail += x[i] * x[i];
    const alpha = x[k];
    const v = new Array(rows).fill(0);
    v[k] = 1;
    if (tail === 0) {
      taus.push(0);
      rdiag.push(alpha);
      vs.push(v);
      continue;
    }
    const norm = Math.sqrt(alpha * alpha + tail);
    const beta = alpha < 0 || Object.is(alpha, -0) ? norm : -norm;
    const tau = (beta - alpha) / beta;
    for (let i = k + 1; i < rows; i++) v[i] = x[i] / (alpha - beta);
    for (let j = k; j < cols; j++) {
      let dot = 0;
      for (let i = k; i < rows; i++) dot += v[i] * R[j][i];
      for (let i = k; i < rows; i++) R[j][i] -= tau * dot * v[i];
    }
    taus.push(tau);
    rdiag.push(beta);
    vs.push(v);
  }
  const q = new Float64Array(rows * cols);
  for (let j = 0; j < cols; j++) {
    const e = new Array(rows).fill(0);
    e[j] = 1;
    for (let k = cols - 1; k >= 0; k--) {
      let dot = 0;
      for (let i = 0; i < rows; i++) dot += vs[k][i] * e[i];
      for (let i = 0; i < rows; i++) e[i] -= taus[k] * dot * vs[k][i];
    }
    for (let i = 0; i < rows; i++) q[i * cols + j] = e[i];
  }
  return { q, rdiag };
}

function checkFactorisation(a: Float64Array, rows: number, cols: number, label: string): void {
  for (const sign of ['positive-diagonal', 'lapack'] as const) {
    const r = new Float64Array(cols * cols);
    const q = qr(a, rows, cols, sign, { r });
    assert.ok(orthogonalityError(q, rows, cols) <= 10 * Math.max(rows, 4) * EPS, `${label} ${sign}: QᵀQ ≠ I`);
    const back = matmul(q, r, rows, cols, cols);
    let scale = 0;
    for (const x of a) scale = Math.max(scale, Math.abs(x));
    assert.ok(maxAbsDiff(back, a) <= 10 * rows * EPS * Math.max(scale, 1), `${label} ${sign}: QR ≠ A`);
    for (let i = 0; i < cols; i++) for (let j = 0; j < i; j++) assert.equal(r[i * cols + j], 0);
    if (sign === 'positive-diagonal') {
      for (let j = 0; j < cols; j++) assert.ok(r[j * cols + j] >= 0, `${label}: R[${j}][${j}] < 0`);
    }
  }
}

for (const engine of linalgEngines()) {
  describe(`qr factorisation [${engine}]`, () => {
    before(() => setLinalgEngine(engine));
    test('square and rectangular shapes, awkward sizes', () => {
      const rand = rng(17);
      for (const [rows, cols] of [
        [1, 1],
        [2, 1],
        [2, 2],
        [3, 3],
        [5, 2],
        [17, 17],
        [31, 31],
        [32, 32],
        [33, 33],
        [64, 64],
        [65, 33],
        [100, 3],
        [129, 65],
        [130, 97],
        [257, 257],
      ]) {
        checkFactorisation(gaussian(rand, rows * cols), rows, cols, `${rows}×${cols}`);
      }
    });

    test('rank-deficient input: zero and repeated columns', () => {
      const rows = 40;
      const cols = 12;
      const a = gaussian(rng(3), rows * cols);
      for (let i = 0; i < rows; i++) {
        a[i * cols + 4] = 0;
        a[i * cols + 7] = a[i * cols + 2];
      }
      checkFactorisation(a, rows, cols, 'rank-deficient');
      const r = new Float64Array(cols * cols);
      qr(a, rows, cols, 'positive-diagonal', { r });
      assert.ok(Math.abs(r[4 * cols + 4]) < 1e-14 && Math.abs(r[7 * cols + 7]) < 1e-13);
    });

    test('input is not modified; output buffers are used', () => {
      const a = gaussian(rng(4), 20);
      const copy = a.slice();
      const out = new Float64Array(20);
      const q = qr(a, 5, 4, 'lapack', { q: out });
      assert.equal(q, out);
      assert.deepEqual(a, copy);
    });

    test('errors: wide input, non-finite entries', () => {
      assert.throws(() => qr([1, 2], 1, 2), RangeError);
      assert.throws(() => qr([1, Number.NaN, 3, 4], 2, 2), NonFiniteError);
      assert.throws(() => qr([1, 2, Number.POSITIVE_INFINITY, 4], 2, 2, 'lapack'), NonFiniteError);
    });
  });

  describe(`qr sign conventions ('lapack' = dgeqrf + dorgqr as torch.linalg.qr calls them) [${engine}]`, () => {
    before(() => setLinalgEngine(engine));
    test('hand-derived LAPACK results', () => {
      // numpy/torch: qr([[1, 2], [3, 4]]) = Q [[-0.3162, -0.9487], [-0.9487, 0.3162]], R [[-3.1623, -4.4272], [0, -0.6325]].
      const r = new Float64Array(4);
      const q = qr([1, 2, 3, 4], 2, 2, 'lapack', { r });
      const s10 = Math.sqrt(10);
      const expectQ = [-1 / s10, -3 / s10, -3 / s10, 1 / s10];
      const expectR = [-s10, -14 / s10, 0, -2 / s10];
      assert.ok(maxAbsDiff(q, expectQ) < 1e-15, `Q = ${[...q]}`);
      assert.ok(maxAbsDiff(r, expectR) < 1e-14, `R = ${[...r]}`);
      // a_kk = +0 with a nonzero subcolumn: β = −‖x‖ (sign(+0) = +).
      assert.ok(maxAbsDiff(qr([0, 2], 2, 1, 'lapack'), [0, -1]) < 1e-16);
      // Already-zero subcolumn: τ = 0, H = I, R_kk keeps the sign of a_kk.
      assert.equal(maxAbsDiff(qr([-3, 0], 2, 1, 'lapack'), [1, 0]), 0);
      assert.equal(maxAbsDiff(qr([-3, 0], 2, 1, 'positive-diagonal'), [-1, 0]), 0);
      // Upper triangular input: every reflector is the identity, so Q = I whatever the signs of the diagonal.
      const ut = [-3, 1, 5, 0, 2, -1, 0, 0, -4];
      assert.equal(maxAbsDiff(qr(ut, 3, 3, 'lapack'), [1, 0, 0, 0, 1, 0, 0, 0, 1]), 0);
      assert.equal(maxAbsDiff(qr(ut, 3, 3, 'positive-diagonal'), [-1, 0, 0, 0, 1, 0, 0, 0, -1]), 0);
      // The last column of a square matrix has an empty subcolumn: R_nn keeps its sign.
      const rr = new Float64Array(4);
      qr([1, 2, 3, 4], 2, 2, 'lapack', { r: rr });
      assert.ok(rr[3] < 0);
    });

    test("'lapack' equals the textbook dlarfg oracle, and differs from 'positive-diagonal' exactly where R_kk < 0", () => {
      const rand = rng(23);
      for (const [rows, cols] of [
        [6, 6],
        [33, 20],
        [70, 70],
        [90, 45],
      ]) {
        const a = gaussian(rand, rows * cols);
        // First column: negative a_00 over an exactly zero subcolumn (τ = 0, R_00 = a_00 < 0).
        for (let i = 1; i < rows; i++) a[i * cols] = 0;
        a[0] = -2.5;
        const oracle = householderOracle(a, rows, cols);
        const lap = qr(a, rows, cols, 'lapack');
        const pos = qr(a, rows, cols, 'positive-diagonal');
        assert.ok(maxAbsDiff(lap, oracle.q) < 1e-13, `${rows}×${cols}: lapack Q vs oracle`);
        for (let j = 0; j < cols; j++) {
          const s = oracle.rdiag[j] < 0 ? -1 : 1;
          for (let i = 0; i < rows; i++) {
            assert.ok(
              Math.abs(pos[i * cols + j] - s * lap[i * cols + j]) < 1e-13,
              `${rows}×${cols} column ${j}`,
            );
          }
        }
        // The planted first column has τ = 0: no flip under 'lapack', Q's first column is e₁.
        assert.equal(lap[0], 1);
        assert.equal(pos[0], -1);
      }
    });
  });

  describe(`power-iteration identity (ALGORITHMS.md §8.1) [${engine}]`, () => {
    before(() => setLinalgEngine(engine));
    test('qr(L·Q).Q = Q·qr(Qᵀ·L·Q).Q for SPD L and orthogonal Q, d = 64', () => {
      const d = 64;
      const rand = rng(64);
      const lambda = Array.from({ length: d }, () => 0.1 + 10 * rand());
      const L = fromSpectrum(randomOrthogonal(d, rand), lambda, d);
      const Q = randomOrthogonal(d, rand);
      const lhs = qr(matmul(L, Q, d, d, d), d, d);
      const B = matmul(matmul(transpose(Q, d, d), L, d, d, d), Q, d, d, d);
      const rhs = matmul(Q, qr(B, d, d), d, d, d);
      const diff = maxAbsDiff(lhs, rhs);
      assert.ok(diff < 3e-12, `max difference ${diff}`);
    });
  });
}
