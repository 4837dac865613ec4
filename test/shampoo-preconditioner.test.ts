import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createKernels, type Kernels } from '../src/kernels/index.ts';
import type { Param } from '../src/optimizers/optimizer.ts';
import { Shampoo } from '../src/optimizers/shampoo.ts';
import type { ShampooConfig } from '../src/optimizers/shampoo-config.ts';
import { inverseExponent } from '../src/optimizers/shampoo-distributed.ts';
import { coupledNewtonInverseRoot } from '../src/preconditioner/coupled-newton.ts';
import { eigenFactorRoot, updateEigenFactor } from '../src/preconditioner/eigen-factor.ts';
import { KernelArithmetic } from '../src/preconditioner/matrix-arithmetic.ts';
import {
  eighEigendecomposition,
  eighInverseRoot,
  type FactorRegularization,
  qrAlgorithmEigendecomposition,
  regularizedFactor,
} from '../src/preconditioner/root-inverse.ts';
import { createStoredMatrix } from '../src/storage/stored-matrix.ts';
import { Rng } from './helpers/rng.ts';

// ---------------------------------------------------------------------------------------------------------
// Independent float64 oracles (no src/linalg): Householder orthogonal matrices and cyclic Jacobi.
// ---------------------------------------------------------------------------------------------------------

/** A product of two Householder reflections: orthogonal, dense, with no special structure. */
function orthogonal(n: number, rng: Rng): Float64Array {
  const q = new Float64Array(n * n);
  for (let i = 0; i < n; i++) q[i * n + i] = 1;
  for (let r = 0; r < 2; r++) {
    const v = Array.from({ length: n }, () => rng.normal());
    const vv = v.reduce((a, x) => a + x * x, 0);
    // q ← q·(I − 2vvᵀ/vᵀv)
    for (let i = 0; i < n; i++) {
      let dot = 0;
      for (let k = 0; k < n; k++) dot += q[i * n + k] * v[k];
      for (let j = 0; j < n; j++) q[i * n + j] -= (2 * dot * v[j]) / vv;
    }
  }
  return q;
}

/** U·Diag(d)·Uᵀ */
function compose(u: Float64Array, d: ArrayLike<number>, n: number): Float64Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let k = 0; k < n; k++) acc += u[i * n + k] * d[k] * u[j * n + k];
      out[i * n + j] = acc;
    }
  return out;
}

/** Cyclic Jacobi: eigenvalues and eigenvectors (columns) of a symmetric matrix. */
function jacobi(a: ArrayLike<number>, n: number): { values: number[]; vectors: Float64Array } {
  const A = Float64Array.from(a);
  const V = new Float64Array(n * n);
  for (let i = 0; i < n; i++) V[i * n + i] = 1;
  for (let sweep = 0; sweep < 60; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += A[p * n + q] ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++)
      for (let q = p + 1; q < n; q++) {
        const apq = A[p * n + q];
        if (apq === 0) continue;
        const theta = (A[q * n + q] - A[p * n + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const kp = A[k * n + p];
          const kq = A[k * n + q];
          A[k * n + p] = c * kp - s * kq;
          A[k * n + q] = s * kp + c * kq;
        }
        for (let k = 0; k < n; k++) {
          const pk = A[p * n + k];
          const qk = A[q * n + k];
          A[p * n + k] = c * pk - s * qk;
          A[q * n + k] = s * pk + c * qk;
        }
        for (let k = 0; k < n; k++) {
          const kp = V[k * n + p];
          const kq = V[k * n + q];
          V[k * n + p] = c * kp - s * kq;
          V[k * n + q] = s * kp + c * kq;
        }
      }
  }
  return { values: Array.from({ length: n }, (_, i) => A[i * n + i]), vectors: V };
}

/** The reference's inverse root of a symmetric matrix: `U·Diag((λ − min(λ_min, 0) + ε)^(−e))·Uᵀ`. */
function oracleRoot(a: ArrayLike<number>, n: number, epsilon: number, exponent: number): Float64Array {
  const { values, vectors } = jacobi(a, n);
  const lmin = Math.min(...values);
  return compose(
    vectors,
    values.map((l) => (l - Math.min(lmin, 0) + epsilon) ** -exponent),
    n,
  );
}

function relErr(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < expected.length; i++) {
    num += (actual[i] - expected[i]) ** 2;
    den += expected[i] ** 2;
  }
  return Math.sqrt(num / den);
}

function f32buf(k: Kernels, data: ArrayLike<number>) {
  const b = k.arena.f32(data.length);
  b.view().set(data);
  return b;
}

function scratch(k: Kernels, n: number) {
  return { q: k.arena.f32(n * n), qs: k.arena.f32(n * n), s: k.arena.f32(n) };
}

for (const engine of ['typescript', 'auto'] as const) {
  test(`eigh inverse root matches A^(−e) on a wide spectrum, for e = 1/4, 1/2, 1/6 (${engine})`, () => {
    const k = createKernels({ engine });
    const n = 17;
    const rng = new Rng(1);
    const u = orthogonal(n, rng);
    const lambda = Array.from({ length: n }, (_, i) => 10 ** (-3 * (i / (n - 1))));
    const a = Float32Array.from(compose(u, lambda, n));
    const reg: FactorRegularization = {
      epsilon: 1e-9,
      perturbBeforeComputation: true,
      traceScalingExponent: null,
    };
    const a64 = new Float64Array(n * n);
    const results: Float32Array[] = [];
    for (const e of [1 / 4, 1 / 2, 1 / 6]) {
      assert.ok(regularizedFactor(a, n, 1, reg, a64));
      const out = k.arena.f32(n * n);
      assert.equal(eighInverseRoot(k, a64, n, reg, e, scratch(k, n), out), 'ok');
      const exact = compose(
        u,
        lambda.map((l) => (l + 1e-9) ** -e),
        n,
      );
      assert.ok(relErr(out.view(), exact) < 2e-5, `e = ${e}: ${relErr(out.view(), exact)}`);
      results.push(out.view().slice());
    }
    // The three roots are far apart: the test can tell a square root from a fourth root.
    assert.ok(relErr(results[0], results[1]) > 0.5);
  });

  test(`rank-deficient factor: ε regularization and the λ-shift of the reference (${engine})`, () => {
    const k = createKernels({ engine });
    const n = 9;
    const u = orthogonal(n, new Rng(2));
    // Rank 5 with a tiny negative eigenvalue, as float32 accumulation produces.
    const lambda = [2, 1, 0.5, 0.25, 0.1, 0, 0, 0, -1e-7];
    const f = Float32Array.from(compose(u, lambda, n));
    for (const perturbBeforeComputation of [true, false]) {
      const reg = { epsilon: 1e-3, perturbBeforeComputation, traceScalingExponent: null };
      const a64 = new Float64Array(n * n);
      assert.ok(regularizedFactor(f, n, 0.5, reg, a64));
      const out = k.arena.f32(n * n);
      assert.equal(eighInverseRoot(k, a64, n, reg, 0.25, scratch(k, n), out), 'ok');
      // F/bc2, then the shifted spectrum λ − min(λ_min, 0) + ε (both placements agree in exact arithmetic).
      const exact = oracleRoot(
        Float64Array.from(f, (x) => x / 0.5),
        n,
        1e-3,
        0.25,
      );
      assert.ok(
        relErr(out.view(), exact) < 1e-4,
        `${perturbBeforeComputation}: ${relErr(out.view(), exact)}`,
      );
    }
  });
}

test('regularizedFactor: float32 overflow of F/bc2 is a non-finite factor; trace scaling', () => {
  const reg = { epsilon: 1e-12, perturbBeforeComputation: false, traceScalingExponent: null };
  const out = new Float64Array(4);
  assert.equal(regularizedFactor(new Float32Array([3e38, 0, 0, 1]), 2, 1, reg, out), true);
  assert.equal(regularizedFactor(new Float32Array([3e38, 0, 0, 1]), 2, 0.5, reg, out), false);
  assert.equal(regularizedFactor(new Float32Array([Number.NaN, 0, 0, 1]), 2, 1, reg, out), false);
  assert.ok(
    regularizedFactor(new Float32Array([4, 1, 1, 5]), 2, 1, { ...reg, traceScalingExponent: 0.5 }, out),
  );
  [4 / 3, 1 / 3, 1 / 3, 5 / 3].forEach((x, i) => {
    assert.ok(Math.abs(out[i] - x) < 1e-15);
  });
});

test('QR algorithm: converges to the eigendecomposition from I, sorted ascending; warm start is a fixed point', () => {
  const n = 8;
  const u = orthogonal(n, new Rng(3));
  const lambda = [8, 4, 2, 1, 0.5, 0.25, 0.125, 0.0625];
  const a = compose(u, lambda, n);
  const identity = new Float32Array(n * n);
  for (let i = 0; i < n; i++) identity[i * n + i] = 1;
  const lam = new Float32Array(n);
  const vec = new Float32Array(n * n);
  assert.equal(qrAlgorithmEigendecomposition(a, n, identity, 400, 1e-9, lam, vec), 'ok');
  const sorted = [...lambda].sort((x, y) => x - y);
  lam.forEach((l, i) => {
    assert.ok(Math.abs(l - sorted[i]) < 1e-5 * sorted[i] + 1e-6, `${i}: ${l} vs ${sorted[i]}`);
  });
  // A·q_j = λ_j·q_j for the returned columns.
  for (let j = 0; j < n; j++) {
    let res = 0;
    for (let i = 0; i < n; i++) {
      let aq = 0;
      for (let p = 0; p < n; p++) aq += a[i * n + p] * vec[p * n + j];
      res = Math.max(res, Math.abs(aq - lam[j] * vec[i * n + j]));
    }
    assert.ok(res < 1e-4, `column ${j}: residual ${res}`);
  }
  // One iteration from the exact eigenvectors keeps them (up to order/sign) and returns the exact eigenvalues.
  const exactQ = Float32Array.from(u);
  const lam1 = new Float32Array(n);
  const vec1 = new Float32Array(n * n);
  assert.equal(qrAlgorithmEigendecomposition(a, n, exactQ, 1, 0, lam1, vec1), 'ok');
  lam1.forEach((l, i) => {
    assert.ok(Math.abs(l - sorted[i]) < 1e-6 * sorted[i] + 1e-7);
  });
  // With a tolerance the reference skips the step when Q already diagonalizes A: eigh path too.
  const lam2 = new Float32Array(n);
  const vec2 = new Float32Array(n * n);
  assert.equal(eighEigendecomposition(a, n, exactQ, 0.01, lam2, vec2), 'ok');
  assert.deepEqual(vec2, exactQ);
  // ... and decomposes when it does not.
  assert.equal(eighEigendecomposition(a, n, identity, 0.01, lam2, vec2), 'ok');
  lam2.forEach((l, i) => {
    assert.ok(Math.abs(l - sorted[i]) < 1e-5 * sorted[i]);
  });
});

for (const engine of ['typescript', 'auto'] as const) {
  test(`eigen-parametrized factor: one statistics update and root match the reference formulas (${engine})`, () => {
    const k = createKernels({ engine });
    const [rows, cols] = [7, 5];
    const rng = new Rng(4);
    const beta = 0.9;
    for (const side of ['left', 'right'] as const) {
      const n = side === 'left' ? rows : cols;
      // State: orthogonal rows Vt and a positive spectrum S.
      const u = orthogonal(n, rng);
      const vt0 = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vt0[i * n + j] = u[j * n + i];
      const s0 = Array.from({ length: n }, (_, i) => 0.5 / (i + 1));
      const g = rng.normals(rows * cols);
      const vt = f32buf(k, vt0);
      const stored = createStoredMatrix('fp32', 'vt', 'factor', n, n, () => vt as never, {
        kernels: k,
        writer: () => {
          throw new Error('fp32 needs no codecs');
        },
        quanBlocksize: 64,
      });
      const s = f32buf(k, s0);
      const sc = { v: k.arena.f32(n * n), a: k.arena.f32(n * n), w: k.arena.f32(n * n), s: k.arena.f32(n) };
      const ar = new KernelArithmetic(k);
      const status = updateEigenFactor(
        ar,
        stored,
        s,
        n,
        f32buf(k, g),
        rows,
        cols,
        side,
        beta,
        1 - beta,
        0,
        sc,
      );
      assert.equal(status, 'ok');
      // Oracle: A = Vtᵀ·S·Vt, A ← βA + (1−β)·stat, V = Gram–Schmidt(A·Vtᵀ), S = diag(VᵀAV).
      const A = new Float64Array(n * n);
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let p = 0; p < n; p++) acc += vt0[p * n + i] * s0[p] * vt0[p * n + j];
          let stat = 0;
          if (side === 'left') for (let c = 0; c < cols; c++) stat += g[i * cols + c] * g[j * cols + c];
          else for (let r = 0; r < rows; r++) stat += g[r * cols + i] * g[r * cols + j];
          A[i * n + j] = beta * acc + (1 - beta) * stat;
        }
      const Y = new Float64Array(n * n); // columns y_j = A·v_j with v_j = row j of Vt
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let p = 0; p < n; p++) acc += A[i * n + p] * vt0[j * n + p];
          Y[i * n + j] = acc;
        }
      for (let j = 0; j < n; j++) {
        for (let p = 0; p < j; p++) {
          let d = 0;
          for (let i = 0; i < n; i++) d += Y[i * n + j] * Y[i * n + p];
          for (let i = 0; i < n; i++) Y[i * n + j] -= d * Y[i * n + p];
        }
        let nr = 0;
        for (let i = 0; i < n; i++) nr += Y[i * n + j] ** 2;
        for (let i = 0; i < n; i++) Y[i * n + j] /= Math.sqrt(nr);
      }
      const sOracle = Array.from({ length: n }, (_, j) => {
        let acc = 0;
        for (let i = 0; i < n; i++)
          for (let p = 0; p < n; p++) acc += Y[i * n + j] * A[i * n + p] * Y[p * n + j];
        return acc;
      });
      assert.ok(relErr(s.view(), sOracle) < 1e-5, `${side} S: ${relErr(s.view(), sOracle)}`);
      // Column signs are arbitrary: compare the sign-invariant reconstruction V·Diag(S)·Vᵀ.
      const vtNew = vt.view();
      const vNew = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) vNew[i * n + j] = vtNew[j * n + i];
      assert.ok(relErr(compose(vNew, s.view(), n), compose(Y, sOracle, n)) < 1e-5);
      // The stored factor is the projection on the tracked basis, not the exact EMA (one power step).
      assert.ok(relErr(compose(Y, sOracle, n), A) > 1e-3);
      // Root: V·Diag((S + ε·max S)^(−1/4))·Vᵀ.
      const out = k.arena.f32(n * n);
      assert.equal(eigenFactorRoot(ar, stored, s, n, 1 / 4, 1e-6, 0, sc, out), 'ok');
      const rho = 1e-6 * Math.max(...sOracle);
      const exact = compose(
        Y,
        sOracle.map((x) => (x + rho) ** -0.25),
        n,
      );
      assert.ok(relErr(out.view(), exact) < 1e-5, `${side} root: ${relErr(out.view(), exact)}`);
    }
  });
}

test('inverse exponents: 1/(2·max(order, 1)) unless overridden per order or per dim', () => {
  assert.equal(inverseExponent({}, 2, 0), 1 / 4);
  assert.equal(inverseExponent({}, 1, 0), 1 / 2);
  assert.equal(inverseExponent({}, 3, 2), 1 / 6);
  assert.equal(inverseExponent({ 2: 0.5 }, 2, 1), 0.5);
  assert.equal(inverseExponent({ 3: { 0: 0, 1: 0.25 } }, 3, 0), 0);
  assert.equal(inverseExponent({ 3: { 0: 0, 1: 0.25 } }, 3, 1), 0.25);
  assert.equal(inverseExponent({ 3: { 0: 0, 1: 0.25 } }, 3, 2), 1 / 6);
});

test('order-3 blocks: two distributed Shampoo steps equal the float64 oracle (mode statistics and products)', () => {
  const shape = [3, 4, 5];
  const n = 60;
  const rng = new Rng(5);
  const w0 = rng.normals(n, 0.3);
  const gs = [rng.normals(n), rng.normals(n)];
  const params: Param[] = [{ shape, data: w0.slice() }];
  const config: ShampooConfig = {
    lr: 0.1,
    betas: [0, 1],
    epsilon: 1e-6,
    maxPreconditionerDim: 5, // (3, 4, 5) is neither merged nor split
    engine: 'typescript',
  };
  const opt = new Shampoo(params, config);
  const W = Float64Array.from(w0);
  const factors = shape.map((d) => new Float64Array(d * d));
  const at = (i: number, j: number, l: number) => (i * 4 + j) * 5 + l;
  for (const g of gs) {
    opt.step([g]);
    // F_m += unfold_m(G)·unfold_m(G)ᵀ (sums: β2 = 1, no bias correction).
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 4; j++)
        for (let l = 0; l < 5; l++) {
          const idx = [i, j, l];
          for (let m = 0; m < 3; m++)
            for (let x = 0; x < shape[m]; x++) {
              const other = [...idx];
              other[m] = x;
              factors[m][idx[m] * shape[m] + x] += g[at(i, j, l)] * g[at(other[0], other[1], other[2])];
            }
        }
    const roots = factors.map((f, m) => oracleRoot(f, shape[m], 1e-6, 1 / 6));
    // P = G ×₁ R₁ ×₂ R₂ ×₃ R₃
    const P = new Float64Array(n);
    for (let i = 0; i < 3; i++)
      for (let j = 0; j < 4; j++)
        for (let l = 0; l < 5; l++) {
          let acc = 0;
          for (let a = 0; a < 3; a++)
            for (let b = 0; b < 4; b++)
              for (let c = 0; c < 5; c++)
                acc += g[at(a, b, c)] * roots[0][a * 3 + i] * roots[1][b * 4 + j] * roots[2][c * 5 + l];
          P[at(i, j, l)] = acc;
        }
    for (let e = 0; e < n; e++) W[e] -= Math.fround(0.1) * P[e];
  }
  assert.ok(relErr(params[0].data, W) < 1e-5, `${relErr(params[0].data, W)}`);
  assert.ok(relErr(w0, W) > 1e-2, 'the parameters moved');
});

test('eigendecomposed (eigh) and root-inverse Shampoo are the same method', () => {
  const rng = new Rng(6);
  // Full-rank factors at every refresh: a rank-deficient factor amplifies rounding by ε^(−e) in both forms.
  const shapes = [
    [6, 5],
    [2, 3, 4],
  ];
  const init = shapes.map((s) =>
    rng.normals(
      s.reduce((a, b) => a * b, 1),
      0.3,
    ),
  );
  const seq = Array.from({ length: 8 }, () => shapes.map((s) => rng.normals(s.reduce((a, b) => a * b, 1))));
  const run = (extra: Record<string, unknown>) => {
    const ps = shapes.map((shape, i) => ({ shape, data: init[i].slice() }));
    const opt = new Shampoo(ps, {
      lr: 0.01,
      betas: [0.9, 0.99],
      epsilon: 1e-8,
      maxPreconditionerDim: 6,
      preconditionFrequency: 2,
      graftingConfig: { type: 'adam' },
      ...extra,
    } as ShampooConfig);
    for (const g of seq) opt.step(g);
    return ps.map((p) => p.data);
  };
  const root = run({});
  const eig = run({ preconditionerConfig: { type: 'eigendecomposed' } });
  root.forEach((p, i) => {
    assert.ok(relErr(eig[i], p) < 1e-6, `param ${i}: ${relErr(eig[i], p)}`);
  });
  const init32 = init.map((x) => x);
  assert.ok(relErr(root[0], init32[0]) > 1e-3);
});

for (const engine of ['typescript', 'auto'] as const) {
  test(`Schur–Newton inverse root (inv_root_mode 1) matches (A + ε·λ_max·I)^(−1/p) (${engine})`, () => {
    const k = createKernels({ engine });
    const n = 12;
    const u = orthogonal(n, new Rng(7));
    const lambda = Array.from({ length: n }, (_, i) => 0.1 + (0.9 * i) / (n - 1));
    const a = f32buf(k, compose(u, lambda, n));
    const sc = {
      x: k.arena.f32(n * n),
      m: k.arena.f32(n * n),
      t: k.arena.f32(n * n),
      u: k.arena.f32(n * n),
      v: k.arena.f32(n * n),
    };
    for (const p of [4, 2]) {
      const out = k.arena.f32(n * n);
      assert.equal(coupledNewtonInverseRoot(new KernelArithmetic(k), a, n, p, 1e-6, sc, out), 'ok');
      const exact = compose(
        u,
        lambda.map((l) => (l + 1e-6) ** (-1 / p)),
        n,
      );
      assert.ok(relErr(out.view(), exact) < 1e-4, `p = ${p}: ${relErr(out.view(), exact)}`);
    }
    const one = k.arena.f32(1);
    assert.equal(
      coupledNewtonInverseRoot(new KernelArithmetic(k), f32buf(k, [4]), 1, 4, 1e-6, sc, one),
      'ok',
    );
    assert.equal(one.view()[0], 1, 'a 1×1 factor gives 1, as the reference');
  });
}
