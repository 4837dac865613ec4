import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AdamW } from '../src/optimizers/adamw.ts';
import type { Optimizer, Param } from '../src/optimizers/optimizer.ts';
import { Shampoo } from '../src/optimizers/shampoo.ts';
import { Rng } from './helpers/rng.ts';

/**
 * Ill-conditioned least squares `½‖A·X − B‖²` with X 16×8 and A 40×16 of condition number 1e3 whose singular
 * vectors are rotated away from the coordinate axes (so a diagonal method cannot undo the conditioning).
 * The gradient `Aᵀ(AX − B)` has the Kronecker structure Shampoo models; at equal steps, each method at its
 * best learning rate of a small grid, Shampoo must reach a much lower loss than AdamW.
 */
const [m, n, k] = [40, 16, 8];

function problem(seed: number) {
  const rng = new Rng(seed);
  const orthonormalColumns = (rows: number, cols: number) => {
    const q = Float64Array.from({ length: rows * cols }, () => rng.normal());
    for (let j = 0; j < cols; j++) {
      for (let p = 0; p < j; p++) {
        let d = 0;
        for (let i = 0; i < rows; i++) d += q[i * cols + j] * q[i * cols + p];
        for (let i = 0; i < rows; i++) q[i * cols + j] -= d * q[i * cols + p];
      }
      let norm = 0;
      for (let i = 0; i < rows; i++) norm += q[i * cols + j] ** 2;
      for (let i = 0; i < rows; i++) q[i * cols + j] /= Math.sqrt(norm);
    }
    return q;
  };
  const u = orthonormalColumns(m, n);
  const v = orthonormalColumns(n, n);
  const s = Array.from({ length: n }, (_, j) => 10 ** ((-3 * j) / (n - 1)));
  // A = U·Diag(s)·Vᵀ
  const A = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let p = 0; p < n; p++) acc += u[i * n + p] * s[p] * v[j * n + p];
      A[i * n + j] = acc;
    }
  const xStar = Array.from({ length: n * k }, () => rng.normal());
  const B = new Float64Array(m * k);
  for (let i = 0; i < m; i++)
    for (let c = 0; c < k; c++) {
      let acc = 0;
      for (let p = 0; p < n; p++) acc += A[i * n + p] * xStar[p * k + c];
      B[i * k + c] = acc;
    }
  /** Loss at X; writes the gradient into g. */
  return (x: Float32Array, g: Float32Array): number => {
    const r = new Float64Array(m * k);
    let loss = 0;
    for (let i = 0; i < m; i++)
      for (let c = 0; c < k; c++) {
        let acc = -B[i * k + c];
        for (let p = 0; p < n; p++) acc += A[i * n + p] * x[p * k + c];
        r[i * k + c] = acc;
        loss += 0.5 * acc * acc;
      }
    for (let p = 0; p < n; p++)
      for (let c = 0; c < k; c++) {
        let acc = 0;
        for (let i = 0; i < m; i++) acc += A[i * n + p] * r[i * k + c];
        g[p * k + c] = acc;
      }
    return loss;
  };
}

const STEPS = 100;

function finalLoss(make: (params: Param[]) => Optimizer): number {
  const lossAndGrad = problem(21);
  const x: Param = { shape: [n, k], data: new Float32Array(n * k) };
  const opt = make([x]);
  const g = new Float32Array(n * k);
  for (let t = 0; t < STEPS; t++) {
    lossAndGrad(x.data, g);
    opt.step([g]);
  }
  return lossAndGrad(x.data, g);
}

const best = (losses: number[]) =>
  Math.min(...losses.map((l) => (Number.isFinite(l) ? l : Number.POSITIVE_INFINITY)));

test('on ill-conditioned least squares Shampoo (both forms) beats AdamW at equal steps', () => {
  const lrs = [0.1, 0.3];
  const initial = finalLoss((p) => new AdamW(p, { lr: 0, weightDecay: 0 }));
  const adamw = best(lrs.map((lr) => finalLoss((p) => new AdamW(p, { lr, weightDecay: 0 }))));
  // Distributed form, 2-D blocks (no merging at max dim 16): L 16×16 and R 8×8, Adam grafting.
  const distributed = best(
    lrs.map((lr) =>
      finalLoss(
        (p) =>
          new Shampoo(p, {
            lr,
            betas: [0.9, 0.999],
            maxPreconditionerDim: 16,
            graftingConfig: { type: 'adam', beta2: 0.999, epsilon: 1e-8 },
          }),
      ),
    ),
  );
  // The 4-bit paper's form (fp32 state) with frequent statistics and roots.
  const lowbit = best(
    lrs.map((lr) =>
      finalLoss((p) => new Shampoo(p, { variant: 'lowbit', lr, statComputeSteps: 1, precComputeSteps: 5 })),
    ),
  );
  assert.ok(adamw < initial / 100, `AdamW makes progress: ${initial} → ${adamw}`);
  assert.ok(distributed < adamw / 4, `distributed ${distributed} vs AdamW ${adamw}`);
  assert.ok(lowbit < adamw / 4, `lowbit ${lowbit} vs AdamW ${adamw}`);
});
